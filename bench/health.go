package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
)

// healthRows: one healthcheck of a ready HTTP component, as Docker's HEALTHCHECK runs it, with
// graft-launcher healthcheck and with curl (what images carry today for this).
func healthRows(ctx context.Context, b *bench) []*row {
	r := &row{Scenario: "healthcheck call (HTTP component ready)", Target: "≤ 0.5× curl's call"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Graft = failedSide("graft-launcher healthcheck", err)
		return []*row{r}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Write([]byte("ok\n"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("http://127.0.0.1:%d/health", port)

	curl, curlErr := lookTool("curl")
	r.Peers = []*side{timeStarts(ctx, b, "`curl -fsS`", curlErr, nil, curl, "-fsS", "-o", os.DevNull, url)}
	if st := b.launcherStatus(); st != "" {
		r.Graft = statusSide("graft-launcher healthcheck", st)
		return []*row{r}
	}
	cfg, err := b.writeLauncherConfig("health", []string{"sleep", "30"}, fmt.Sprintf(`components = ["web"]

[[component]]
name = "web"
port = %d
health = "/health"
`, port))
	if err == nil {
		// What `graft-launcher run` writes once the component is ready.
		err = os.WriteFile(filepath.Join(filepath.Dir(cfg), "ports", "web.port"), []byte(strconv.Itoa(port)+"\n"), 0o644)
	}
	if err != nil {
		r.Graft = failedSide("graft-launcher healthcheck", err)
		return []*row{r}
	}
	r.Graft = timeStarts(ctx, b, "graft-launcher healthcheck", nil, []string{"GRAFT_LAUNCHER_CONFIG=" + cfg},
		b.launcher, "healthcheck", "web")
	if r.Graft.ok() && r.Peers[0].ok() {
		r.Met = boolPtr(r.Graft.Median <= 0.5*r.Peers[0].Median)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("each value is the median of %d calls; the launcher reads launcher.toml "+
		"and the port file, then GETs the health path; curl GETs the same URL", b.launcherIterations()))
	b.logf("health: graft %s, curl %s", r.Graft.cell(), r.Peers[0].cell())
	return []*row{r}
}
