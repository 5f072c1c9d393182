// Package tarx extracts the regular files of a tar (an OCI layout packed with tar, say) into a
// folder, refusing any name that would leave it.
package tarx

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Extract writes file's regular files under dir; links, devices and folders are skipped (an
// OCI layout holds none that matter). With maxFile > 0, larger files are skipped too (and at
// most maxFile bytes of any file are read). A name that is absolute or climbs out is an error;
// an existing file is never overwritten.
func Extract(file, dir string, maxFile int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if h.Typeflag != tar.TypeReg || (maxFile > 0 && h.Size > maxFile) || name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("tar entry %q leaves the layout", h.Name)
		}
		var r io.Reader = tr
		if maxFile > 0 {
			r = io.LimitReader(tr, maxFile)
		}
		if err := write(filepath.Join(dir, filepath.FromSlash(name)), r); err != nil {
			return err
		}
	}
}

func write(dest string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
