package main

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// memoryRows: graft's peak RSS (the kernel's ru_maxrss of the graft process and the children it
// waited for) on a cold build of 20 plugins, of -mem-plugins plugins (about 1 GB at 200), and of
// one plugin holding one -big-mb file; the no-op rebuild of the large site; and `graft lock` of
// the big plugin against a server without partial fetch (it sends every blob). Peak RSS is
// meaningful on a loaded machine; times are not.
func memoryRows(ctx context.Context, b *bench) []*row {
	small, large := b.cfg.plugins, b.cfg.memPlugins
	mk := func(s string) *row { return &row{Scenario: s, Target: "peak RSS ≤ 160 MB"} }
	rSmall := mk(fmt.Sprintf("peak RSS, cold build of %d plugins", small))
	rLarge := mk(fmt.Sprintf("peak RSS, cold build of %d plugins", large))
	rLarge.Target = fmt.Sprintf("peak RSS ≤ 160 MB, within ±20%% of %d plugins'", small)
	rBig := mk(fmt.Sprintf("peak RSS, cold build of one plugin with one %d MB file", b.cfg.bigMB))
	rNoop := &row{Scenario: fmt.Sprintf("no-op rebuild, %d plugins", large), Target: "≤ 1 s"}
	rLock := &row{Scenario: fmt.Sprintf("peak RSS, graft lock of one plugin with one %d MB file, server without partial fetch", b.cfg.bigMB),
		Target: "peak RSS ≤ 100 MB"}
	rows := []*row{rSmall, rLarge, rBig, rNoop, rLock}
	fail := func(err error) []*row {
		for _, r := range rows {
			r.Graft = failedSide("graft", fmt.Errorf("setup: %w", err))
		}
		return rows
	}
	if b.graft == "" {
		for _, r := range rows {
			r.Graft = statusSide("graft", "waiting: "+b.graftErr.Error())
		}
		return rows
	}
	git, err := b.gitServerFor()
	if err != nil {
		return fail(err)
	}
	base, err := b.baseFor(ctx, false)
	if err != nil {
		return fail(err)
	}
	reg := b.registryFor()
	var sizeSmall, sizeLarge int64
	for _, c := range []struct {
		r    *row
		n    int
		size *int64
	}{{rSmall, small, &sizeSmall}, {rLarge, large, &sizeLarge}} {
		repos, err := b.ensureRepos(ctx, c.n, c.n)
		if err != nil {
			return fail(err)
		}
		*c.size = workBytes(repos)
		site := filepath.Join(b.tmp, "sites", fmt.Sprintf("mem-%d", c.n))
		if err := writeSite(siteSpec{dir: site, base: base.ref, name: reg.Host + "/bench/mem", gitURL: git.URL, plugins: c.n}); err != nil {
			return fail(err)
		}
		c.r.Graft = b.coldRSS(ctx, site, fmt.Sprintf("mem-%d", c.n), *c.size)
		c.r.Notes = append(c.r.Notes, fmt.Sprintf("%d plugins, %s of files; output an OCI layout; the time is in brackets",
			c.n, formatValue(float64(*c.size), unitBytes)))
		if c.n == large {
			rNoop.Graft = b.noopRSS(ctx, site, fmt.Sprintf("mem-%d", c.n))
		}
	}
	if rSmall.Graft.ok() && rLarge.Graft.ok() {
		ratio := rLarge.Graft.Median / rSmall.Graft.Median
		rLarge.Met = boolPtr(rLarge.Graft.Median <= 160<<20 && ratio <= 1.2 && ratio >= 0.8)
		rLarge.Notes = append(rLarge.Notes, fmt.Sprintf("%.2f× the peak RSS of %d plugins, for %.1f× the bytes; time per MB %.2f× that of %d plugins",
			ratio, small, float64(sizeLarge)/float64(sizeSmall),
			(rLarge.Graft.Extra["wall_s"]/float64(sizeLarge))/(rSmall.Graft.Extra["wall_s"]/float64(sizeSmall)), small))
	}
	if rSmall.Graft.ok() {
		rSmall.Met = boolPtr(rSmall.Graft.Median <= 160<<20)
	}
	if rNoop.Graft.ok() {
		rNoop.Met = boolPtr(rNoop.Graft.Median <= 1)
		rNoop.Notes = append(rNoop.Notes, "same lock, warm caches, the OCI layout written again")
	}
	big, err := b.ensureBigRepo(ctx)
	if err != nil {
		rBig.Graft, rLock.Graft = failedSide("graft build", err), failedSide("graft lock", err)
		return rows
	}
	site := filepath.Join(b.tmp, "sites", "mem-big")
	if err := writeNamedSite(site, base.ref, reg.Host+"/bench/big", git.URL, big.name, "main"); err != nil {
		return fail(err)
	}
	rBig.Graft = b.coldRSS(ctx, site, "mem-big", int64(b.cfg.bigMB)<<20)
	if rBig.Graft.ok() {
		rBig.Met = boolPtr(rBig.Graft.Median <= 160<<20)
	}
	rBig.Notes = append(rBig.Notes, "one incompressible file (a jar, a video) and a README")
	rLock.Graft = b.lockRSS(ctx, site, big)
	if rLock.Graft.ok() {
		rLock.Met = boolPtr(rLock.Graft.Median <= 100<<20)
	}
	rLock.Notes = append(rLock.Notes, "uploadpack.allowFilter off for this run: the server sends the commit's blobs too, as servers without partial fetch do")
	for _, r := range rows {
		b.logf("memory: %s: %s", r.Scenario, r.Graft.cell())
	}
	return rows
}

// coldRSS runs graft build with an empty cache, runs times: the peak RSS of each, and the time.
func (b *bench) coldRSS(ctx context.Context, site, cache string, size int64) *side {
	out := filepath.Join(b.tmp, "out-"+cache)
	if _, err := runCmd(ctx, b.graftSpec(site, cache+"-lock"), b.graft, "lock", "-C", site); err != nil {
		return failedSide("graft build", err)
	}
	var rss, walls []float64
	var net netRuns
	for i := 0; i < b.cfg.runs; i++ {
		if err := removeAll(out); err != nil {
			return failedSide("graft build", err)
		}
		start := time.Now()
		var u usage
		err := net.timed(b, func() (err error) {
			u, err = runCmdRSS(ctx, b.graftSpec(site, fmt.Sprintf("%s-cold-%d", cache, i)), b.graft,
				"build", "-C", site, "--progress", "quiet", "--output", "type=oci,dest="+out)
			return err
		})
		if err != nil {
			return failedSide("graft build", err)
		}
		walls = append(walls, time.Since(start).Seconds())
		rss = append(rss, u.maxRSS)
	}
	s := net.set(okSide("graft build", unitBytes, rss))
	s.setExtra("wall_s", walls)
	s.Extra["mb_per_s"] = float64(size) / (1 << 20) / s.Extra["wall_s"]
	return s
}

// noopRSS builds once to warm a cache, then times rebuilds with it.
func (b *bench) noopRSS(ctx context.Context, site, cache string) *side {
	out := filepath.Join(b.tmp, "out-"+cache+"-warm")
	args := []string{"build", "-C", site, "--progress", "quiet", "--output", "type=oci,dest=" + out}
	spec := b.graftSpec(site, cache+"-warm")
	if _, err := runCmd(ctx, spec, b.graft, args...); err != nil {
		return failedSide("graft build", err)
	}
	var rss []float64
	var net netRuns
	runs, err := measure(b.cfg.runs, nil, net.wrap(b, func(int) error {
		u, err := runCmdRSS(ctx, spec, b.graft, args...)
		rss = append(rss, u.maxRSS)
		return err
	}))
	if err != nil {
		return failedSide("graft build", err)
	}
	s := net.set(okSide("graft build", unitSeconds, runs))
	s.setExtra("peak_rss", rss)
	return s
}

// lockRSS runs graft lock of the big plugin with partial fetch refused by the server.
func (b *bench) lockRSS(ctx context.Context, site string, r *pluginRepo) *side {
	if _, err := r.git(ctx, "", "config", "uploadpack.allowFilter", "false"); err != nil {
		return failedSide("graft lock", err)
	}
	defer r.git(context.Background(), "", "config", "uploadpack.allowFilter", "true")
	var rss, walls []float64
	for i := 0; i < b.cfg.runs; i++ {
		if err := os.Remove(filepath.Join(site, "graft.lock")); err != nil && !os.IsNotExist(err) {
			return failedSide("graft lock", err)
		}
		start := time.Now()
		u, err := runCmdRSS(ctx, b.graftSpec(site, fmt.Sprintf("mem-lock-%d", i)), b.graft, "lock", "-C", site)
		if err != nil {
			return failedSide("graft lock", err)
		}
		walls = append(walls, time.Since(start).Seconds())
		rss = append(rss, u.maxRSS)
	}
	s := okSide("graft lock", unitBytes, rss)
	s.setExtra("wall_s", walls)
	return s
}

// ensureBigRepo makes the repository "bigfile": one incompressible file of -big-mb MB.
func (b *bench) ensureBigRepo(ctx context.Context) (*pluginRepo, error) {
	name := "bigfile"
	r := &pluginRepo{name: name, bare: filepath.Join(b.reposDir(), name+".git"), work: filepath.Join(b.tmp, "work", name)}
	if _, err := os.Stat(r.bare); err == nil {
		return r, nil
	}
	rng := rand.New(rand.NewPCG(b.cfg.seed, 1<<42))
	if err := os.MkdirAll(filepath.Join(r.work, "assets"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.work, "assets", "big.bin"), randomBytes(rng, b.cfg.bigMB<<20), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.work, "README.md"), sourceText(rng, 2<<10), 0o644); err != nil {
		return nil, err
	}
	return r, b.initRepo(ctx, r)
}

// writeNamedSite writes a site with one plugin of the given name.
func writeNamedSite(dir, base, image, gitURL, plugin, ref string) error {
	if err := writeSite(siteSpec{dir: dir, base: base, name: image, gitURL: gitURL}); err != nil {
		return err
	}
	def := fmt.Sprintf("[source]\ngit = %q\nref = %q\n", gitURL+"/"+plugin+".git", ref)
	return writeFile(filepath.Join(dir, "plugins", plugin, "plugin.toml"), def)
}

// workBytes is the size of the repositories' files.
func workBytes(repos []*pluginRepo) int64 {
	var n int64
	for _, r := range repos {
		filepath.WalkDir(r.work, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n
}
