package buildkit

import (
	"archive/tar"
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/layer"
)

// diffLayer turns the exported diff into the plugin's layer through builder/layer, as the
// daemonless engine makes its layers: same order, mtimes, owner and compression. BuildKit's
// layers of the diff (the plugin's files, then one per command) are squashed into one, files a
// step deleted from the base kept as whiteouts. The parents of the plugin folder are dropped:
// they are the base's (the diff carries them only to hold the path), and the daemonless layer
// leaves them out too.
func diffLayer(tarPath, work string, req contract.StepRequest) (v1.Layer, error) {
	layers, err := readExport(tarPath, filepath.Join(work, "export"))
	if err != nil {
		return nil, err
	}
	entries := squash(layers)
	root := path.Clean("/" + req.PluginDir)
	kept := dropStubs(dropParents(entries, root))
	mt := req.MediaType
	if mt == "" {
		mt = types.OCILayer
	}
	lay, err := layer.New(kept, layer.WithEpoch(req.Epoch), layer.WithOwner(req.UID, req.GID),
		layer.WithRoot(root), layer.WithMediaType(mt))
	if err != nil {
		return nil, fmt.Errorf("build steps' layer: %w", err)
	}
	return lay, nil
}

// mountStubs are the mount points the container runtime creates in a base that lacks them:
// not something a step made.
var mountStubs = map[string]bool{"/dev": true, "/proc": true, "/sys": true, "/run": true,
	"/run/secrets": true, "/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true}

// dropParents drops the root and the parents of the plugin folder.
func dropParents(entries []layer.Entry, root string) []layer.Entry {
	var kept []layer.Entry
	for _, en := range entries {
		name := path.Clean("/" + en.Name)
		if name != "/" && !strings.HasPrefix(root, name+"/") {
			kept = append(kept, en)
		}
	}
	return kept
}

// dropStubs drops empty mount points (an empty folder or file in mountStubs), repeating so that
// /run goes once /run/secrets has.
func dropStubs(entries []layer.Entry) []layer.Entry {
	for {
		parents := map[string]bool{}
		for _, en := range entries {
			parents[path.Dir(path.Clean("/"+en.Name))] = true
		}
		var kept []layer.Entry
		for _, en := range entries {
			name := path.Clean("/" + en.Name)
			stub := mountStubs[name] && ((en.Type == tar.TypeDir && !parents[name]) || (en.Type == tar.TypeReg && len(en.Data) == 0))
			if !stub {
				kept = append(kept, en)
			}
		}
		if len(kept) == len(entries) {
			return kept
		}
		entries = kept
	}
}

// checkPlatform refuses a platform no worker of the daemon runs, instead of failing later with
// "exec format error" in the first step.
func (e *Engine) checkPlatform(ctx context.Context, p v1.Platform) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.platforms == nil {
		ws, err := e.c.ListWorkers(ctx)
		if err != nil {
			return fmt.Errorf("BuildKit at %s: list workers: %s", e.addr, oneLine(err))
		}
		for _, w := range ws {
			e.platforms = append(e.platforms, w.Platforms...)
		}
	}
	want := ociPlatform(p)
	var have []string
	for _, wp := range e.platforms {
		if platforms.Only(wp).Match(want) {
			return nil
		}
		have = append(have, platforms.Format(wp))
	}
	return fmt.Errorf("BuildKit at %s cannot run %s build steps (its workers run %s): register QEMU emulation on the daemon's host (e.g. tonistiigi/binfmt) or use a builder of that platform",
		e.addr, platforms.Format(want), strings.Join(have, ", "))
}
