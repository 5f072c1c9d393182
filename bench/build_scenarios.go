package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// coldBuild: graft build with an empty cache, beside clone + docker build --no-cache and
// crane append of pre-made tars.
func (e *buildEnv) coldBuild(ctx context.Context, r *row) {
	b := e.b
	r.Peers = []*side{e.dockerCold(ctx), e.craneCold(ctx)}
	r.Graft = e.graftSide(func() *side {
		out := filepath.Join(b.tmp, "out-cold")
		var net netRuns
		runs, err := measure(b.cfg.runs, func(int) error { return removeAll(out) }, net.wrap(b, func(i int) error {
			return e.graftBuild(ctx, fmt.Sprintf("build-cold-%d", i), "type=oci,dest="+out)
		}))
		if err == nil {
			err = e.checkLayout(out)
		}
		if err != nil {
			return failedSide("graft build", err)
		}
		b.profileGraft(ctx, "build-cold", b.graftSpec(e.site, "build-cold-profile"),
			"build", "-C", e.site, "--progress", "quiet", "--output", "type=oci,dest="+out)
		return net.set(okSide("graft build", unitSeconds, runs))
	})
	if r.Graft.ok() && r.Peers[0].ok() {
		r.Met = boolPtr(r.Graft.Median <= 0.3*r.Peers[0].Median)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("graft: empty cache, base fetched from the registry on 127.0.0.1, output an OCI layout; "+
		"docker: %d sequential `git clone --depth 1` then `docker build --no-cache` with one COPY per plugin "+
		"(classic builder: this engine's CLI has no buildx), base preloaded; crane: base from the registry, "+
		"tars made beforehand with `git archive` (untimed), gzip level 1, output a tarball", e.n))
	if d := r.Peers[0]; d.ok() {
		r.Notes = append(r.Notes, fmt.Sprintf("of docker's %s, the clones took %s",
			formatValue(d.Median, unitSeconds), formatValue(d.Extra["clone_s"], unitSeconds)))
	}
	b.logf("cold build: graft %s, docker %s, crane %s", r.Graft.cell(), r.Peers[0].cell(), r.Peers[1].cell())
}

// graftSide runs f unless graft cannot build yet.
func (e *buildEnv) graftSide(f func() *side) *side {
	if e.graftOK != "" {
		return statusSide("graft build", e.graftOK)
	}
	return f()
}

func (e *buildEnv) dockerCold(ctx context.Context) *side {
	name := dockerSideName()
	if e.dockerErr != nil {
		return statusSide(name, e.dockerErr.Error())
	}
	var clones []float64
	var net netRuns
	runs, err := measure(e.b.cfg.runs, nil, net.wrap(e.b, func(i int) error {
		start := time.Now()
		if err := e.cloneAll(ctx); err != nil {
			return err
		}
		clones = append(clones, time.Since(start).Seconds())
		return e.dockerBuild(ctx, fmt.Sprintf("%s:cold-%d", e.b.dockerName("docker"), i), true)
	}))
	if err != nil {
		return failedSide(name, err)
	}
	s := net.set(okSide(name, unitSeconds, runs))
	s.setExtra("clone_s", clones)
	return s
}

// noopBuild: nothing changed since the last build; both tools have their caches.
func (e *buildEnv) noopBuild(ctx context.Context, r *row) {
	b := e.b
	r.Graft = e.graftSide(func() *side {
		out := filepath.Join(b.tmp, "out-warm")
		build := func(int) error { return e.graftBuild(ctx, "build-warm", "type=oci,dest="+out) }
		if err := build(0); err != nil { // warm the cache
			return failedSide("graft build", err)
		}
		var net netRuns
		runs, err := measure(b.cfg.runs, nil, net.wrap(b, build))
		if err != nil {
			return failedSide("graft build", err)
		}
		b.profileGraft(ctx, "build-noop", b.graftSpec(e.site, "build-warm"),
			"build", "-C", e.site, "--progress", "quiet", "--output", "type=oci,dest="+out)
		return net.set(okSide("graft build", unitSeconds, runs))
	})
	r.Peers = []*side{e.dockerNoop(ctx)}
	if r.Graft.ok() {
		r.Met = boolPtr(r.Graft.Median <= 1)
	}
	r.Notes = append(r.Notes, "no-op: same lock, warm cache, output rewritten; docker: `docker build` of the "+
		"unchanged context with its layer cache (no clones counted: generous to docker)")
	b.logf("no-op: graft %s, docker %s", r.Graft.cell(), r.Peers[0].cell())
}

func (e *buildEnv) dockerNoop(ctx context.Context) *side {
	name := "`docker build` with cache"
	if e.dockerErr != nil {
		return statusSide(name, e.dockerErr.Error())
	}
	tag := e.b.dockerName("docker") + ":warm"
	if err := e.dockerBuild(ctx, tag, false); err != nil { // warm the cache
		return failedSide(name, err)
	}
	var net netRuns
	runs, err := measure(e.b.cfg.runs, nil, net.wrap(e.b, func(int) error { return e.dockerBuild(ctx, tag, false) }))
	if err != nil {
		return failedSide(name, err)
	}
	return net.set(okSide(name, unitSeconds, runs))
}
