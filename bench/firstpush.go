package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// pushRows: the base's first push (issue 23.3). After a base upgrade the site's image is pushed
// with every base layer new to its repository: a realistic base (-base-mb in 15 layers, mostly
// jar-like bytes) plus the site's plugin layers, pushed (a) to an empty repository of the same
// registry, where a client can mount the base's blobs from the base's repository instead of
// uploading them, and (b) to another registry, where every blob is copied. graft (`graft build
// --output type=registry`, plugin layers cached from the build before the upgrade, the base
// read from the registry) beside `crane copy` of the same image and `docker push` of the image
// docker built from the same base and plugins; all with the same latency. A fresh target
// registry per run and tool keeps (b) a full copy every time.
func pushRows(ctx context.Context, b *bench) []*row {
	mb := b.cfg.baseMB
	same := &row{Scenario: fmt.Sprintf("base's first push (%d MB base in %d layers + %d plugins): new repository, same registry",
		mb, bigBaseLayers, b.cfg.plugins)}
	other := &row{Scenario: fmt.Sprintf("base's first push (%d MB base in %d layers + %d plugins): another registry",
		mb, bigBaseLayers, b.cfg.plugins)}
	rows := []*row{same, other}
	fail := func(err error) []*row {
		for _, r := range rows {
			r.Graft = failedSide("graft build --output type=registry", err)
		}
		return rows
	}
	e, err := newBuildEnv(ctx, b)
	if err != nil {
		return fail(fmt.Errorf("setup: %w", err))
	}
	defer e.cleanup()
	big, err := b.bigBaseFor(ctx, mb)
	if err != nil {
		return fail(err)
	}
	p := &firstPush{e: e, big: big, site: filepath.Join(b.tmp, "sites", "first-push"), src: e.reg.Host + "/bench/first-src:1"}
	if err := writeSite(siteSpec{dir: p.site, base: big.ref, name: p.src, gitURL: e.git.URL, plugins: e.n}); err != nil {
		return fail(err)
	}
	p.prepare(ctx)
	p.measure(ctx, same, func(i int, tool string) (*registry, string) {
		return e.reg, fmt.Sprintf("%s/bench/first-%s-%d:1", e.reg.Host, tool, i)
	})
	p.measure(ctx, other, func(_ int, tool string) (*registry, string) {
		r := b.startRegistry(false)
		return r, r.Host + "/bench/first-" + tool + ":1"
	})
	same.Notes = append(same.Notes, "the target registry is CNCF distribution (blobs linked per repository): "+
		"a client that names the base's repository mounts its blobs (POST ?mount=&from=) instead of uploading them")
	other.Notes = append(other.Notes, "the target is a second registry (go-containerregistry's in-memory one), "+
		"a new one for every run and tool: every blob is read from the first registry and uploaded")
	for _, r := range rows {
		r.Notes = append(r.Notes, fmt.Sprintf("the image: a %s base in %d layers (jar-like, generated once per run) and %d plugin layers; "+
			"graft's plugin layers come from the cache of the build before the base upgrade (a copy per run), the base from the registry; "+
			"crane copies the image graft pushed (untimed) to the first registry; docker pushes what it built FROM the same base "+
			"(pulled into the engine, untimed) with one COPY per plugin; throughput is the image's compressed bytes over the time",
			formatValue(float64(big.size), unitBytes), big.layers, e.n))
		if b.cfg.quick {
			r.Notes = append(r.Notes, fmt.Sprintf("-quick: a %d MB base (a full run uses 700 MB)", mb))
		}
		b.logf("%s: graft %s, crane %s, docker %s", r.Scenario, r.Graft.cell(), r.Peers[0].cell(), r.Peers[1].cell())
	}
	return rows
}

// firstPush is what the first-push rows share.
type firstPush struct {
	e    *buildEnv
	big  *bigBase
	site string
	src  string // graft's image in the first registry, the source of crane copy

	graftStatus, craneStatus, dockerStatus string
	crane                                  string
	warmCache                              string  // graft's cache after a build with the old base
	dockerImage                            string  // the image docker built from the big base
	imageBytes                             float64 // graft's image (and crane's copy), compressed
}

// prepare does the untimed steps: lock the site, warm graft's plugin layers with the old base,
// push graft's image once (crane's source), pull the base into Docker and build docker's image.
func (p *firstPush) prepare(ctx context.Context) {
	e, b := p.e, p.e.b
	p.graftStatus = e.graftOK
	if p.graftStatus == "" {
		p.graftStatus = statusOf(func() error {
			if _, err := runCmd(ctx, b.graftSpec(p.site, "first-push-lock"), b.graft, "lock", "-C", p.site); err != nil {
				return err
			}
			// The runner's cache before the base upgrade: the same plugins built on the old base.
			if err := e.graftBuild(ctx, "first-push-warm", "type=oci,dest="+filepath.Join(b.tmp, "out-first-push-warm")); err != nil {
				return err
			}
			p.warmCache = filepath.Join(b.tmp, "cache", "first-push-warm")
			return p.graftPush(ctx, "first-push-src", p.src)
		})
	}
	if p.graftStatus == "" {
		if size, err := imageBytes(ctx, p.src); err == nil {
			p.imageBytes = size
		} else {
			p.graftStatus = "failed: " + oneLine(err.Error(), 160)
		}
	}
	p.craneStatus = p.graftStatus // crane copies graft's image
	if p.craneStatus == "" {
		var err error
		if p.crane, err = b.craneFor(ctx); err != nil {
			p.craneStatus = err.Error()
		}
	}
	if e.dockerErr != nil {
		p.dockerStatus = e.dockerErr.Error()
		return
	}
	p.dockerStatus = statusOf(func() error {
		if _, err := runCmd(ctx, cmdSpec{}, "docker", "pull", "-q", p.big.ref); err != nil {
			return err
		}
		e.trackTag(p.big.ref)
		dir := filepath.Join(b.tmp, "docker-first-push")
		df, err := os.ReadFile(filepath.Join(e.dockerDir, "Dockerfile"))
		if err != nil {
			return err
		}
		from, rest, _ := strings.Cut(string(df), "\n")
		if !strings.HasPrefix(from, "FROM ") {
			return fmt.Errorf("docker context: Dockerfile starts with %q", from)
		}
		if err := writeFile(filepath.Join(dir, "Dockerfile"), "FROM "+p.big.ref+"\n"+rest); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(e.dockerDir, "plugins")); err != nil {
			if err := e.cloneAll(ctx); err != nil {
				return err
			}
		}
		p.dockerImage = b.dockerName("first-push") + ":1"
		e.trackTag(p.dockerImage)
		_, err = runCmd(ctx, cmdSpec{env: []string{"DOCKER_BUILDKIT=0"}}, "docker", "build", "-q", "-t", p.dockerImage,
			"-f", filepath.Join(dir, "Dockerfile"), e.dockerDir)
		return err
	})
}

func statusOf(f func() error) string {
	if err := f(); err != nil {
		return "failed: " + oneLine(err.Error(), 160)
	}
	return ""
}

// graftPush runs graft build to the registry with a copy of the warm cache named cache.
func (p *firstPush) graftPush(ctx context.Context, cache, ref string) error {
	if err := p.copyCache(ctx, cache); err != nil {
		return err
	}
	b := p.e.b
	_, err := runCmd(ctx, b.graftSpec(p.site, cache), b.graft, p.buildArgs(ref)...)
	return err
}

func (p *firstPush) buildArgs(ref string) []string {
	return []string{"build", "-C", p.site, "--progress", "quiet", "--output", "type=registry,name=" + ref}
}

// copyCache makes graft's cache named cache a copy of the warm one (a runner's cache before the
// base upgrade).
func (p *firstPush) copyCache(ctx context.Context, cache string) error {
	dir := filepath.Join(p.e.b.tmp, "cache", cache)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	_, err := runCmd(ctx, cmdSpec{}, "cp", "-a", p.warmCache, dir)
	return err
}

// pushSide collects one tool's runs of a first-push row.
type pushSide struct {
	changeSide
	rss, mounts, downloaded []float64
}

// measure fills r: for each run and tool, target gives the registry and the reference to push
// to; a registry other than the bench's own is closed after the push.
func (p *firstPush) measure(ctx context.Context, r *row, target func(i int, tool string) (*registry, string)) {
	b := p.e.b
	g := &pushSide{changeSide: changeSide{name: "graft build --output type=registry", status: p.graftStatus}}
	c := &pushSide{changeSide: changeSide{name: "`crane copy`", status: p.craneStatus}}
	d := &pushSide{changeSide: changeSide{name: "`docker push`", status: p.dockerStatus}}
	var pushed []float64 // docker's image as pushed, compressed
	done := func(reg *registry) {
		if reg != p.e.reg {
			reg.close()
		}
	}
	for i := 0; i < b.cfg.runs; i++ {
		cache := fmt.Sprintf("first-push-%d", i)
		if g.status == "" {
			reg, ref := target(i, "graft")
			g.try(func() error { return p.copyCache(ctx, cache) })
			p.timedRSS(g, reg, func() (usage, error) {
				return runCmdRSS(ctx, b.graftSpec(p.site, cache), b.graft, p.buildArgs(ref)...)
			})
			os.RemoveAll(filepath.Join(b.tmp, "cache", cache))
			done(reg)
		}
		if c.status == "" {
			reg, ref := target(i, "crane")
			p.timedRSS(c, reg, func() (usage, error) {
				return runCmdRSS(ctx, cmdSpec{}, p.crane, "copy", p.src, ref)
			})
			done(reg)
		}
		if d.status == "" {
			reg, ref := target(i, "docker")
			d.try(func() error {
				p.e.trackTag(ref)
				_, err := runCmd(ctx, cmdSpec{}, "docker", "tag", p.dockerImage, ref)
				return err
			})
			p.timedRSS(d, reg, func() (usage, error) {
				_, err := runCmd(ctx, cmdSpec{}, "docker", "push", "-q", ref)
				return usage{}, err
			})
			if d.status == "" {
				size, err := imageBytes(ctx, ref)
				d.try(func() error { return err })
				pushed = append(pushed, size)
			}
			done(reg)
		}
	}
	r.Graft = g.finish(p.imageBytes)
	r.Peers = []*side{c.finish(p.imageBytes), d.finish(median(pushed))}
	r.Target = "throughput ≥ crane's; peak RSS ≤ 160 MB (flat: the base is never held in memory)"
	if r.Graft.ok() && r.Peers[0].ok() {
		// The same image (crane copies graft's): throughput ≥ crane's is time ≤ crane's.
		r.Met = boolPtr(r.Graft.Median <= r.Peers[0].Median && r.Graft.Extra["peak_rss"] <= 160<<20)
	}
}

// timedRSS runs one timed push, recording time, traffic, bytes uploaded, mounts, bytes read
// from the first registry (the base's and the source image's) and peak RSS.
func (p *firstPush) timedRSS(s *pushSide, reg *registry, f func() (usage, error)) {
	if s.status != "" {
		return
	}
	mounts, sent := reg.mounted(), p.e.reg.sentBytes()
	var u usage
	s.timed(p.e.b, reg, func() (err error) {
		u, err = f()
		return err
	})
	if s.status == "" {
		s.rss = append(s.rss, u.maxRSS)
		s.mounts = append(s.mounts, float64(reg.mounted()-mounts))
		s.downloaded = append(s.downloaded, float64(p.e.reg.sentBytes()-sent))
	}
}

// finish is the side, with throughput over size bytes, peak RSS (when measured) and mounts.
func (s *pushSide) finish(size float64) *side {
	out := s.side()
	if !out.ok() {
		return out
	}
	if median(s.rss) > 0 {
		out.setExtra("peak_rss", s.rss)
	}
	out.setExtra("mounts", s.mounts)
	out.setExtra("bytes_downloaded", s.downloaded)
	if size > 0 && out.Median > 0 {
		out.Extra["mb_per_s"] = size / (1 << 20) / out.Median
	}
	return out
}

// imageBytes is the compressed size of the image at ref: its layers and config.
func imageBytes(ctx context.Context, ref string) (float64, error) {
	m, _, err := manifestAt(ctx, ref)
	if err != nil {
		return 0, err
	}
	total := float64(m.Config.Size)
	for _, l := range m.Layers {
		total += float64(l.Size)
	}
	return total, nil
}
