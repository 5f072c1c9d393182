package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FromTar normalizes any uncompressed tar (e.g. what BuildKit's build steps produced) into a
// deterministic layer: sorted, parent directories, fixed mtime, the given owner at or below the
// root, no user/group names, compressed with DefaultLevel. open is called once.
func FromTar(open func() (io.ReadCloser, error), opts ...Option) (v1.Layer, error) {
	rc, err := open()
	if err != nil {
		return nil, fmt.Errorf("open tar: %w", err)
	}
	defer rc.Close()
	entries, err := ReadTar(rc)
	if err != nil {
		return nil, err
	}
	return New(entries, opts...)
}

// ReadTar reads every entry of a tar stream into memory.
func ReadTar(r io.Reader) ([]Entry, error) {
	var entries []Entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		e, err := entryOf(h, tr)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
}

func entryOf(h *tar.Header, r io.Reader) (Entry, error) {
	e := Entry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode & 0o7777, Linkname: h.Linkname,
		UID: h.Uid, GID: h.Gid, Devmajor: h.Devmajor, Devminor: h.Devminor}
	switch h.Typeflag {
	case tar.TypeReg: // the reader already turned legacy TypeRegA into TypeReg or TypeDir
		data, err := io.ReadAll(r)
		if err != nil {
			return e, fmt.Errorf("read tar entry %s: %w", h.Name, err)
		}
		e.Data = data
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return e, fmt.Errorf("tar entry %s: unsupported type %q", h.Name, h.Typeflag)
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[name] = v
		}
	}
	return e, nil
}
