package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/internal/buildkittest"
)

// TestBuildStepPlugin builds site-buildkit, whose assets plugin has a build step, through a real
// buildkitd: the step runs a script of the base image, and the file it generates is in the image
// graft assembled, in the plugin's folder, and served by the running app.
func TestBuildStepPlugin(t *testing.T) {
	f := setup(t)
	d := buildkittest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	site := f.kit.Site("site-buildkit")
	if _, err := f.kit.Graft(ctx, site, "lock"); err != nil {
		t.Fatal(err)
	}
	ref := f.id + ":buildkit"
	if _, err := f.kit.Graft(ctx, site, "build", "--buildkit", d.Addr, "--progress", "plain",
		"--output", "type=daemon,name="+ref); err != nil {
		t.Fatal(err)
	}
	imagesMu.Lock()
	images = append(images, ref)
	imagesMu.Unlock()

	name := runAllInOne(t, ctx, f, f.id+"-buildkit", ref)
	var page struct {
		Version string
		Files   []string
	}
	getJSON(t, "http://"+hostPort(t, ctx, name, "8080")+"/plugins/assets", &page)
	if strings.Join(page.Files, ",") != "VERSION,assets.src,content.txt,generated/assets.txt" {
		t.Errorf("assets plugin files = %v; want the generated file beside the plugin's own", page.Files)
	}
	got := mustDocker(t, ctx, "exec", name, "/bin/cat", "/srv/demo/plugins/assets/generated/assets.txt")
	for _, want := range []string{"generated at build time by gen-assets.sh", "lines: 2", "FINDING AID STYLESHEET"} {
		if !strings.Contains(got, want) {
			t.Errorf("generated/assets.txt lacks %q:\n%s", want, got)
		}
	}
	owner := mustDocker(t, ctx, "exec", name, "/bin/ls", "-ln", "/srv/demo/plugins/assets/generated/assets.txt")
	if f := strings.Fields(owner); len(f) < 4 || f[2] != "1000" || f[3] != "1000" {
		t.Errorf("generated file owner: %s; want 1000 1000 (graft.toml owner)", owner)
	}
}
