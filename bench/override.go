package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

// overrideMB is the size of the plugin the development-loop row changes.
const overrideMB = 20

// overrideBuild: a plugin developer's loop (issue 21.4). One plugin of the site is replaced by a
// working folder holding a 20 MB file of incompressible bytes; each run changes one byte of it
// (untimed) and rebuilds. graft: `graft build --override NAME=FOLDER` (the rest from the lock,
// warm cache). Docker: `docker build` of a Dockerfile COPYing the same folder onto the base
// (classic builder; the folder is the build context), the way an image is rebuilt around a
// working copy today; a bind mount (`docker run -v FOLDER:…`) builds nothing but runs no image.
func (e *buildEnv) overrideBuild(ctx context.Context, r *row) {
	b := e.b
	name := pluginName(0)
	ctxDir := filepath.Join(b.tmp, "override-context")
	work := filepath.Join(ctxDir, "plugin")
	if err := writeOverrideFolder(work); err != nil {
		r.Graft = failedSide("graft build --override", err)
		return
	}
	change := func(i int) error { return touchByte(filepath.Join(work, "assets", "big.bin"), int64(i)*4096+1) }
	out := filepath.Join(b.tmp, "out-override")
	r.Graft = e.graftSide(func() *side {
		build := func(int) error {
			return e.graftBuildArgs(ctx, "build-warm", "--override", name+"="+work, "--output", "type=oci,dest="+out)
		}
		if err := build(0); err != nil { // warm: the rest of the image from the cache
			return failedSide("graft build --override", err)
		}
		var net netRuns
		runs, err := measure(b.cfg.runs, change, net.wrap(b, build))
		if err != nil {
			return failedSide("graft build --override", err)
		}
		return net.set(okSide("graft build --override", unitSeconds, runs))
	})
	r.Peers = []*side{e.dockerOverride(ctx, ctxDir, name, change)}
	if r.Graft.ok() {
		r.Met = boolPtr(r.Graft.Median <= 1)
	}
	r.Notes = append(r.Notes, fmt.Sprintf("one byte of a %d MB file of random bytes in %s's working folder changed before each run; "+
		"graft writes an OCI layout (the image is labelled unlocked); docker rebuilds the COPY of the folder (its context)", overrideMB, name))
	b.logf("override: graft %s, docker %s", r.Graft.cell(), r.Peers[0].cell())
}

func (e *buildEnv) dockerOverride(ctx context.Context, ctxDir, name string, change func(int) error) *side {
	label := "`docker build` (COPY of the folder)"
	if e.dockerErr != nil {
		return statusSide(label, e.dockerErr.Error())
	}
	df := fmt.Sprintf("FROM %s\nCOPY --chown=1000:1000 plugin /app/plugins/%s\n", e.base.dockerTag, name)
	if err := writeFile(filepath.Join(ctxDir, "Dockerfile"), df); err != nil {
		return failedSide(label, err)
	}
	tag := e.b.dockerName("docker") + ":override"
	e.trackTag(tag)
	build := func(int) error {
		out, err := runCmd(ctx, cmdSpec{env: []string{"DOCKER_BUILDKIT=0"}}, "docker", "build", "-q", "-t", tag, ctxDir)
		if id := strings.TrimSpace(out); strings.HasPrefix(id, "sha256:") {
			e.trackTag(id)
		}
		return err
	}
	if err := build(0); err != nil {
		return failedSide(label, err)
	}
	var net netRuns
	runs, err := measure(e.b.cfg.runs, change, net.wrap(e.b, build))
	if err != nil {
		return failedSide(label, err)
	}
	return net.set(okSide(label, unitSeconds, runs))
}

// writeOverrideFolder writes a plugin's working folder: a few sources and one big binary of
// seeded random bytes (incompressible, the worst case for the layer's gzip).
func writeOverrideFolder(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for i := 0; i < 5; i++ {
		if err := writeFile(filepath.Join(dir, "lib", fmt.Sprintf("part%d.rb", i)), fmt.Sprintf("# part %d\n", i)); err != nil {
			return err
		}
	}
	big := make([]byte, overrideMB<<20)
	rand.New(rand.NewSource(21)).Read(big)
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "assets", "big.bin"), big, 0o644)
}

// touchByte flips the byte at off of file.
func touchByte(file string, off int64) error {
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	return err
}
