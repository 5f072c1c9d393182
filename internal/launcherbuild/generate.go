package launcherbuild

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/internal/atomicfile"
)

// VersionSuffix names the file beside a launcher that records its release version: Go does not
// record -ldflags (so not -X) in the build info of a -trimpath binary, and a stripped binary
// has no symbols to read the variable from.
const VersionSuffix = ".version"

// Generate builds the launchers for targets into dir (graft's embedded set, or a folder for
// GRAFT_LAUNCHER_DIR) with the recipe, each written to a dot-file first (go:embed skips those)
// and renamed, with its version file: the release version, else the checkout's commit
// (Source.Commit: the label a graft building from this checkout gives its launcher too, so an
// image is the same with embedded and with built launchers); removed when there is neither.
func Generate(ctx context.Context, root, dir, version string, targets ...Target) error {
	dir, err := filepath.Abs(dir) // go build runs in root
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	label := version
	if label == "" {
		label = checkoutCommit(ctx, root)
	}
	for _, t := range targets {
		final := filepath.Join(dir, FileName(t))
		tmp := filepath.Join(dir, "."+FileName(t)+".tmp")
		cmd, err := Command(ctx, t, version, root, tmp)
		if err != nil {
			return err
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("build graft-launcher for %s: %w: %s", t, err, oneLine(string(out)))
		}
		if err := os.Rename(tmp, final); err != nil {
			return err
		}
		vfile := final + VersionSuffix
		if label == "" {
			if err := os.Remove(vfile); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if err := atomicfile.Write(vfile, []byte(label+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}
