package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/tarx"
)

// maxTarMeta bounds what inspect extracts from an OCI tar: index, manifests and configs are
// small; layers, which inspect never reads, are skipped.
const maxTarMeta = 16 << 20

// localImage turns a plain path to an image on disk into what imageref reads: a folder is an
// OCI layout (as `graft build` writes out/image), a tar is a `docker save` tar or an OCI layout
// tar (type=oci,dest=FILE.tar; read from a temporary folder cleanup removes, holding the files
// of at most maxFile bytes: 0 for all of them). Anything else is returned as given, so
// `graft inspect out/image` never asks Docker Hub for "out/image".
func localImage(arg string, maxFile int64) (ref string, cleanup func(), err error) {
	cleanup = func() {}
	if strings.Contains(arg, "://") {
		return arg, cleanup, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return arg, cleanup, nil
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return "", cleanup, err
	}
	if fi.IsDir() {
		return imageref.LayoutScheme + abs, cleanup, nil
	}
	kind, err := tarKind(abs)
	if err != nil || kind != "oci" {
		return abs, cleanup, nil // a docker save tar (or not a tar: imageref says so)
	}
	dir, err := os.MkdirTemp("", "graft-inspect-")
	if err != nil {
		return "", cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := tarx.Extract(abs, dir, maxFile); err != nil {
		cleanup()
		return "", func() {}, fmt.Errorf("%s: %w", arg, err)
	}
	return imageref.LayoutScheme + dir, cleanup, nil
}

// tarKind is "docker" for a tar with manifest.json (docker save; buildx's docker tars have
// both), "oci" for one with only an oci-layout file.
func tarKind(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return kind, nil
		}
		if err != nil {
			return "", err
		}
		switch path.Clean(h.Name) {
		case "manifest.json":
			return "docker", nil
		case "oci-layout":
			kind = "oci"
		}
	}
}
