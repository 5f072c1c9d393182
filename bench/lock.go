package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

// lockRows: `graft lock` of N plugins beside the sequential `git ls-remote` loop a site script
// runs today, three ways: against git http-backend as CGI (server-bound: every request forks
// git on the bench's own 2 cores), against a server answering in parallel (responses kept from
// a first, untimed run and replayed, as a forge answers from its caches), and the same with a
// delay per new connection (TCP and TLS set-up). Target: ≤ 5× one round trip.
func lockRows(ctx context.Context, b *bench) []*row {
	n, d, cd := b.cfg.lockPlugins, b.cfg.delay, b.cfg.connDelay
	cgiRow := &row{Scenario: fmt.Sprintf("lock %d plugins, CGI git server (server-bound), %s added per request", n, d)}
	parRow := &row{Scenario: fmt.Sprintf("lock %d plugins, server answering in parallel, %s per request", n, d)}
	connRow := &row{Scenario: fmt.Sprintf("lock %d plugins, server answering in parallel, %s per request + %s per new connection", n, d, cd)}
	rows := []*row{cgiRow, parRow, connRow}
	fail := func(err error) []*row {
		for _, r := range rows {
			r.Graft, r.Peers = failedSide("graft lock", err), []*side{failedSide("`git ls-remote` loop", err)}
		}
		return rows
	}
	if _, err := lookTool("git"); err != nil {
		for _, r := range rows {
			r.Graft, r.Peers = statusSide("graft lock", err.Error()), []*side{statusSide("`git ls-remote` loop", err.Error())}
		}
		return rows
	}
	repos, err := b.ensureRepos(ctx, n, min(n, b.cfg.plugins))
	if err != nil {
		return fail(err)
	}
	git, err := b.gitServerFor()
	if err != nil {
		return fail(err)
	}
	base, err := b.baseFor(ctx, false)
	if err != nil {
		return fail(err)
	}
	// The base comes from a local OCI layout here, so only the git round trips are measured.
	site := filepath.Join(b.tmp, "sites", "lock")
	if err := writeSite(siteSpec{dir: site, base: "oci-layout://" + base.layoutDir + ":1", name: "bench/lock",
		gitURL: git.URL, plugins: n}); err != nil {
		return fail(err)
	}
	// The first two rows pay the request delay only; the last one the connection delay too.
	git.link.SetDelay(d, 0)
	defer git.link.SetDelay(d, cd)
	l := &lockEnv{b: b, git: git, site: site, repo: repos[0].name + ".git", n: n}
	l.measure(ctx, cgiRow, http.DefaultClient, true)
	cgiRow.Notes = append(cgiRow.Notes, "server-bound: git http-backend runs as CGI on the bench's own cores, "+
		"forking git and packing objects for every request; graft's share is its own CPU time")

	// Keep every response of one untimed run of each tool, then replay them.
	git.record.Store(true)
	os.Remove(filepath.Join(site, "graft.lock"))
	_, errG := runCmd(ctx, b.graftSpec(site, "lock-record"), b.graft, "lock", "-C", site)
	errL := lsRemoteOnce(ctx, git, n)
	git.record.Store(false)
	if err := errors.Join(errG, errL); err != nil {
		parRow.Graft, connRow.Graft = failedSide("graft lock", err), failedSide("graft lock", err)
		return rows
	}
	git.replay.Store(true)
	defer git.replay.Store(false)
	l.measure(ctx, parRow, http.DefaultClient, false)
	git.link.SetDelay(d, cd)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	l.measure(ctx, connRow, fresh, false)
	for _, r := range []*row{parRow, connRow} {
		r.Notes = append(r.Notes, fmt.Sprintf("the server replays responses kept from one untimed run of each tool "+
			"(%d requests replayed in all), so it answers in parallel without running git, as a forge answers from its caches", git.replayed.Load()))
	}
	connRow.Notes = append(connRow.Notes, "one round trip here is a request on a new connection (the per-connection delay included)")
	return rows
}

// lockEnv is what the lock rows share.
type lockEnv struct {
	b    *bench
	git  *gitServer
	site string
	repo string // the repository the round trip is timed against
	n    int
}

// measure fills r: the round trip (with client), the ls-remote loop and graft lock.
func (l *lockEnv) measure(ctx context.Context, r *row, client *http.Client, profile bool) {
	b, git := l.b, l.git
	rtt, err := measure(max(b.cfg.runs, 5), nil, func(int) error {
		_, err := git.roundTrip(ctx, client, l.repo)
		return err
	})
	if err != nil {
		r.Graft, r.Peers = failedSide("graft lock", err), []*side{failedSide("`git ls-remote` loop", err)}
		return
	}
	oneTrip := median(rtt)
	r.Target = fmt.Sprintf("≤ 5× one round trip (%s) = %s", formatValue(oneTrip, unitSeconds),
		formatValue(5*oneTrip, unitSeconds))
	r.Notes = append(r.Notes, "one round trip = one GET of info/refs with the delays; "+
		"the `git ls-remote` loop asks each repository for its ref, one after the other, and gets only SHAs "+
		"(graft also records titles, tags and trees)")
	req0, bytes0 := git.traffic()
	r.Peers = []*side{lsRemoteLoop(ctx, b, git, l.n)}
	req1, bytes1 := git.traffic()
	r.Graft = graftLock(ctx, b, l.site)
	req2, bytes2 := git.traffic()
	if profile && r.Graft.ok() && os.Remove(filepath.Join(l.site, "graft.lock")) == nil {
		b.profileGraft(ctx, "lock", b.graftSpec(l.site, "lock-profile"), "lock", "-C", l.site)
	}
	runs := float64(b.cfg.runs)
	r.Notes = append(r.Notes, fmt.Sprintf("git server traffic per run: graft lock %.0f requests, %s sent; "+
		"ls-remote loop %.0f requests, %s sent", float64(req2-req1)/runs, formatValue(float64(bytes2-bytes1)/runs, unitBytes),
		float64(req1-req0)/runs, formatValue(float64(bytes1-bytes0)/runs, unitBytes)))
	if r.Graft.ok() {
		r.Met = boolPtr(r.Graft.Median <= 5*oneTrip)
		r.Notes = append(r.Notes, fmt.Sprintf("CPU per graft lock run: graft %s, git server (http-backend, pack-objects) %s",
			formatValue(r.Graft.Extra["graft_cpu_s"], unitSeconds), formatValue(r.Graft.Extra["server_cpu_s"], unitSeconds)))
	}
	b.logf("%s: graft %s, ls-remote loop %s", r.Scenario, r.Graft.cell(), r.Peers[0].cell())
}

// lsRemoteOnce runs the ls-remote loop once, untimed.
func lsRemoteOnce(ctx context.Context, git *gitServer, n int) error {
	for i := 0; i < n; i++ {
		if _, err := runCmd(ctx, cmdSpec{env: gitEnv("")}, "git", "ls-remote",
			git.URL+"/"+pluginName(i)+".git", pluginRef(i)); err != nil {
			return err
		}
	}
	return nil
}

func lsRemoteLoop(ctx context.Context, b *bench, git *gitServer, n int) *side {
	name := "`git ls-remote` loop"
	var net netRuns
	runs, err := measure(b.cfg.runs, nil, net.wrap(b, func(int) error { return lsRemoteOnce(ctx, git, n) }))
	if err != nil {
		return failedSide(name, err)
	}
	return net.set(okSide(name, unitSeconds, runs))
}

func graftLock(ctx context.Context, b *bench, site string) *side {
	name := "graft lock"
	switch {
	case b.graft == "":
		return statusSide(name, "waiting: "+b.graftErr.Error())
	case b.placeholder("lock.go"):
		return statusSide(name, "waiting: graft lock (cmd/graft/lock.go is a placeholder)")
	}
	lock := filepath.Join(site, "graft.lock")
	var own, all []float64
	var net netRuns
	runs, err := measure(b.cfg.runs, func(i int) error {
		// A full resolution every run: no lock to start from, and an empty cache.
		if err := os.Remove(lock); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}, net.wrap(b, func(i int) error {
		before := childrenCPU()
		u, err := runCmdCPU(ctx, b.graftSpec(site, fmt.Sprintf("lock-%d", i)), b.graft, "lock", "-C", site)
		own, all = append(own, u.cpu), append(all, childrenCPU()-before)
		return err
	}))
	if err != nil {
		return failedSide(name, err)
	}
	if _, err := os.Stat(lock); err != nil {
		return failedSide(name, fmt.Errorf("graft lock exited 0 but wrote no graft.lock"))
	}
	s := net.set(okSide(name, unitSeconds, runs))
	s.setExtra("graft_cpu_s", own)
	s.setExtra("server_cpu_s", sub(all, own))
	return s
}

// sub is a[i]-b[i].
func sub(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// graftSpec runs graft in site with its own cache folder named cache (a fresh name is a cold cache).
func (b *bench) graftSpec(site, cache string) cmdSpec {
	dir := filepath.Join(b.tmp, "cache", cache)
	return cmdSpec{dir: site, env: []string{"XDG_CACHE_HOME=" + dir, "GRAFT_CACHE_DIR=" + dir}}
}
