package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// craneFor builds crane from the go-containerregistry version graft pins (it is in the module
// cache, so this works offline) on first use.
func (b *bench) craneFor(ctx context.Context) (string, error) {
	out := filepath.Join(b.bin, "crane")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := runCmd(ctx, cmdSpec{dir: b.src}, "go", "build", "-o", out,
		"github.com/google/go-containerregistry/cmd/crane"); err != nil {
		return "", fmt.Errorf("peer missing: crane (%v)", err)
	}
	return out, nil
}

// craneTars writes one tar per plugin with `git archive` (untimed: the peer is handed ready
// tars), with files at /app/plugins/<name>/ as graft places them.
func (e *buildEnv) craneTars(ctx context.Context) ([]string, error) {
	dir := filepath.Join(e.b.tmp, "crane-tars")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var tars []string
	for i := 0; i < e.n; i++ {
		t := filepath.Join(dir, pluginName(i)+".tar")
		if _, err := runCmd(ctx, cmdSpec{}, "git", "--git-dir="+e.repos[i].bare, "archive", "--format=tar",
			"--prefix=app/plugins/"+pluginName(i)+"/", "-o", t, pluginRef(i)); err != nil {
			return nil, err
		}
		tars = append(tars, t)
	}
	return tars, nil
}

// craneCold times `crane append` of the pre-made tars onto the base, written to a tarball
// (crane fetches the base from the registry, as graft does).
func (e *buildEnv) craneCold(ctx context.Context) *side {
	name := "`crane append` of pre-made tars"
	crane, err := e.b.craneFor(ctx)
	if err != nil {
		return statusSide(name, err.Error())
	}
	tars, err := e.craneTars(ctx)
	if err != nil {
		return failedSide(name, err)
	}
	out := filepath.Join(e.b.tmp, "crane-out.tar")
	args := []string{"append", "-b", e.base.ref, "-t", e.reg.Host + "/bench/crane:cold", "-o", out}
	for _, t := range tars {
		args = append(args, "-f", t)
	}
	var net netRuns
	runs, err := measure(e.b.cfg.runs, func(int) error { return removeAll(out) }, net.wrap(e.b, func(int) error {
		_, err := runCmd(ctx, cmdSpec{}, crane, args...)
		return err
	}))
	if err != nil {
		return failedSide(name, err)
	}
	return net.set(okSide(name, unitSeconds, runs))
}
