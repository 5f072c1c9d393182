package publish

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ---- type=oci,dest=FILE.tar: an OCI layout as one tar, as buildx writes it

// ociTarOut writes the layout layoutOut would write (writeLayout, byte for byte, attachments
// included), as a tar: entries sorted, root-owned, with a fixed mtime, so the same layout gives
// the same tar.
type ociTarOut struct {
	dest  string
	names layoutNames
}

// wantsTar is buildx's choice: tar=true, or a dest ending in .tar unless tar=false. A folder
// stays a folder (graft's default and what existing CI scripts expect).
func wantsTar(kv map[string]string) bool {
	switch kv["tar"] {
	case "true":
		return true
	case "false":
		return false
	}
	return strings.HasSuffix(kv["dest"], ".tar")
}

func (t *ociTarOut) Target() Target { return Target{Path: t.dest} }

func (t *ociTarOut) String() string { return t.dest + " (OCI tar, " + t.names.tag + ")" }

// Publish writes the layout into a temporary folder, tars it into a temporary file beside
// dest and renames that over dest: dest is never half-written.
func (t *ociTarOut) Publish(_ context.Context, a Artifact, _ io.Writer) (string, error) {
	if fi, err := os.Lstat(t.dest); err == nil && !fi.Mode().IsRegular() {
		return "", fmt.Errorf("output %s exists and is not a file; give dest a new file name", t.dest)
	}
	parent := filepath.Dir(t.dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	dir, err := os.MkdirTemp(parent, ".graft-oci-")
	if err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	defer os.RemoveAll(dir)
	if err := writeLayout(dir, a, t.names); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	f, err := os.CreateTemp(parent, ".graft-oci-*.tar")
	if err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	defer os.Remove(f.Name()) // after the rename, nothing is left to remove
	if err := tarFolder(f, dir); err != nil {
		f.Close()
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if err := os.Rename(f.Name(), t.dest); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	return t.String(), nil
}

// tarFolder streams dir's files (regular files and folders only) into w in lexical order.
func tarFolder(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX})
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: not a regular file", name)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: fi.Size(), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
