package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// lockRows: `graft lock` of N plugins against a git server with added delay, beside the
// sequential `git ls-remote` loop a site script runs today. Target: ≤ 5× one round trip.
func lockRows(ctx context.Context, b *bench) []*row {
	n := b.cfg.lockPlugins
	r := &row{Scenario: fmt.Sprintf("lock %d plugins (%s added per request)", n, b.cfg.delay)}
	r.Graft = statusSide("graft lock", "failed: setup")
	peer := statusSide("`git ls-remote` loop", "failed: setup")
	r.Peers = []*side{peer}
	fail := func(err error) []*row {
		r.Graft, r.Peers[0] = failedSide("graft lock", err), failedSide(peer.Name, err)
		return []*row{r}
	}
	if _, err := lookTool("git"); err != nil {
		r.Graft, r.Peers[0] = statusSide("graft lock", err.Error()), statusSide(peer.Name, err.Error())
		return []*row{r}
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
	git.setDelay(b.cfg.delay)
	defer git.setDelay(0)

	rtt, err := measure(max(b.cfg.runs, 5), nil, func(int) error {
		_, err := git.roundTrip(ctx, repos[0].name+".git")
		return err
	})
	if err != nil {
		return fail(err)
	}
	oneTrip := median(rtt)
	r.Target = fmt.Sprintf("≤ 5× one round trip (%s) = %s", formatValue(oneTrip, unitSeconds),
		formatValue(5*oneTrip, unitSeconds))
	r.Notes = append(r.Notes, fmt.Sprintf("one round trip = one GET of info/refs from the git server with the %s delay; "+
		"the `git ls-remote` loop asks each repository for its ref, one after the other, and gets only SHAs "+
		"(graft also records titles, tags and trees)", b.cfg.delay))

	req0, bytes0 := git.traffic()
	r.Peers[0] = lsRemoteLoop(ctx, b, git, n)
	req1, bytes1 := git.traffic()
	r.Graft = graftLock(ctx, b, site)
	req2, bytes2 := git.traffic()
	if r.Graft.ok() && os.Remove(filepath.Join(site, "graft.lock")) == nil {
		b.profileGraft(ctx, "lock", b.graftSpec(site, "lock-profile"), "lock", "-C", site)
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
	b.logf("lock: graft %s, ls-remote loop %s", r.Graft.cell(), r.Peers[0].cell())
	return []*row{r}
}

func lsRemoteLoop(ctx context.Context, b *bench, git *gitServer, n int) *side {
	name := "`git ls-remote` loop"
	runs, err := measure(b.cfg.runs, nil, func(int) error {
		for i := 0; i < n; i++ {
			if _, err := runCmd(ctx, cmdSpec{env: gitEnv("")}, "git", "ls-remote",
				git.URL+"/"+pluginName(i)+".git", pluginRef(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return failedSide(name, err)
	}
	return okSide(name, unitSeconds, runs)
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
	runs, err := measure(b.cfg.runs, func(i int) error {
		// A full resolution every run: no lock to start from, and an empty cache.
		if err := os.Remove(lock); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}, func(i int) error {
		before := childrenCPU()
		u, err := runCmdCPU(ctx, b.graftSpec(site, fmt.Sprintf("lock-%d", i)), b.graft, "lock", "-C", site)
		own, all = append(own, u.cpu), append(all, childrenCPU()-before)
		return err
	})
	if err != nil {
		return failedSide(name, err)
	}
	if _, err := os.Stat(lock); err != nil {
		return failedSide(name, fmt.Errorf("graft lock exited 0 but wrote no graft.lock"))
	}
	s := okSide(name, unitSeconds, runs)
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
