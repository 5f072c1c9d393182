package main

import (
	"context"
	"fmt"
	"time"
)

// changedBuild: one plugin gets a new commit; the site rebuilds and pushes to a registry that
// holds the previous image. Measured: time, and bytes uploaded (counted by the registry).
func (e *buildEnv) changedBuild(ctx context.Context, r *row) {
	k := e.changedIndex()
	r.Scenario = fmt.Sprintf("one plugin changed (%s): rebuild + push", pluginName(k))
	graftRef := e.reg.Host + "/bench/graft:change"
	dockerRef := e.reg.Host + "/bench/docker:change"
	g := &changeSide{name: "graft build --output type=registry", status: e.graftOK}
	d := &changeSide{name: "re-clone + `docker build` + `docker push`"}
	if e.dockerErr != nil {
		d.status = e.dockerErr.Error()
	}
	// The registry first holds the current image from each tool (untimed).
	g.try(func() error { return e.graftBuild(ctx, "build-warm", "type=registry,name="+graftRef) })
	d.try(func() error { return e.dockerBuildPush(ctx, dockerRef) })

	for i := 0; i < e.b.cfg.runs && (g.status == "" || d.status == ""); i++ {
		if err := e.repos[k].change(ctx, i+1); err != nil {
			r.Graft = failedSide(g.name, err)
			return
		}
		g.try(func() error { // the maintainer's step, untimed: bump the lock
			_, err := runCmd(ctx, e.b.graftSpec(e.site, "build-warm"), e.b.graft, "lock", "-C", e.site,
				"--update", pluginName(k))
			return err
		})
		g.timed(e.b, e.reg, func() error { return e.graftBuild(ctx, "build-warm", "type=registry,name="+graftRef) })
		d.timed(e.b, e.reg, func() error {
			if err := e.clonePlugin(ctx, k); err != nil {
				return err
			}
			return e.dockerBuildPush(ctx, dockerRef)
		})
	}
	r.Graft, r.Peers = g.side(), []*side{d.side()}
	if r.Graft.ok() {
		size, err := e.pushedLayerSize(ctx, graftRef, k)
		if err != nil {
			r.Notes = append(r.Notes, "could not read the changed layer's size: "+err.Error())
		} else {
			// The target is about the image: the SBOM and provenance graft attaches to each new
			// image are counted apart (a note says how much they were).
			up := r.Graft.Extra["bytes_uploaded"] - r.Graft.Extra["attested_bytes"]
			r.Target = fmt.Sprintf("image upload ≤ 1.05× that plugin's layer (%s)", formatValue(float64(size), unitBytes))
			r.Met = boolPtr(up <= 1.05*float64(size))
			if att := r.Graft.Extra["attested_bytes"]; att > 0 {
				r.Notes = append(r.Notes, fmt.Sprintf("graft's upload: %s for the image (%.2f× the layer), %s for its SBOM and provenance with their referrer manifests and tags "+
					"(referrers, on by default; --sbom=false --provenance=false leave them out)",
					formatValue(up, unitBytes), up/float64(size), formatValue(att, unitBytes)))
			}
		}
	}
	r.Notes = append(r.Notes, fmt.Sprintf("a one-line commit to %s (in the middle of %d, so Docker rebuilds the COPY layers "+
		"after it); graft's time excludes `graft lock --update` (the maintainer's commit), docker's includes the re-clone "+
		"of that plugin; bytes uploaded are request bodies counted by the registry", pluginName(k), e.n))
	e.b.logf("change: graft %s, docker %s", r.Graft.cell(), r.Peers[0].cell())
}

func (e *buildEnv) dockerBuildPush(ctx context.Context, ref string) error {
	if err := e.dockerBuild(ctx, ref, false); err != nil {
		return err
	}
	return e.dockerPush(ctx, ref)
}

// changeSide collects one tool's runs of the change scenario; status stops it at the first error.
type changeSide struct {
	name     string
	status   string
	secs     []float64
	bytes    []float64
	attested []float64 // of bytes: SBOM and provenance
	net      netRuns
}

func (c *changeSide) try(f func() error) {
	if c.status != "" {
		return
	}
	if err := f(); err != nil {
		c.status = "failed: " + oneLine(err.Error(), 160)
	}
}

func (c *changeSide) timed(b *bench, reg *registry, f func() error) {
	if c.status != "" {
		return
	}
	before, attBefore := reg.uploadedBytes(), reg.attestedBytes()
	start := time.Now()
	c.try(func() error { return c.net.timed(b, f) })
	if c.status == "" {
		c.secs = append(c.secs, time.Since(start).Seconds())
		c.bytes = append(c.bytes, float64(reg.uploadedBytes()-before))
		c.attested = append(c.attested, float64(reg.attestedBytes()-attBefore))
	}
}

func (c *changeSide) side() *side {
	if c.status != "" {
		return statusSide(c.name, c.status)
	}
	s := c.net.set(okSide(c.name, unitSeconds, c.secs))
	s.setExtra("bytes_uploaded", c.bytes)
	if median(c.attested) > 0 {
		s.setExtra("attested_bytes", c.attested)
	}
	return s
}
