// Package unpack extracts archives (zip, tar, tar.gz, tar.zst) and single files into a fresh
// folder, treating every archive as hostile: no entry leaves the folder (absolute names, "..",
// paths through a symlink or a file), symlinks stay inside it, devices, FIFOs and other special
// entries are refused, .git is never written, and the number of entries and the bytes written
// are bounded before anything is written (a header claiming too much is refused at once; an
// entry longer than its header says is refused as it is copied), so a bomb fails fast. Writes go
// through an os.Root on the folder: even a bug in these checks cannot write outside it.
//
// Errors about the archive's content are usererr errors (bad input, exit 2), one line each.
package unpack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/filetree"
)

// Limits bound what one unpacking may write.
type Limits struct {
	Bytes   int64 // total length of the files written
	Entries int   // entries of the archive (written or not)
}

// DefaultLimits: generous for any plugin, far below what fills a CI runner's disk.
var DefaultLimits = Limits{Bytes: 4 << 30, Entries: 200_000}

// maxLink bounds a symlink's target (Linux allows 4095 bytes).
const maxLink = 4096

// Options shape an unpacking.
type Options struct {
	Shown   string // the archive as messages name it
	Strip   int    // leading path components dropped from every entry (tar --strip-components)
	Path    string // keep only entries below this folder (after Strip), re-rooted at it
	Limits  Limits // zero values take DefaultLimits'
	Overlay bool   // image layers: a later entry replaces an earlier one, whiteouts delete
}

// Format is what an archive is.
type Format int

// Formats Sniff recognises.
const (
	Unknown Format = iota
	Zip
	Tar
	Gzip // a gzip-compressed tar
	Zstd // a zstd-compressed tar
)

func (f Format) String() string {
	return [...]string{"unknown", "zip", "tar", "tar.gz", "tar.zst"}[f]
}

// Sniff tells an archive's format from its first bytes (at least 262 give a tar its magic).
func Sniff(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return Tar
	}
	return Unknown
}

// Extractor writes entries into one folder.
type Extractor struct {
	o       Options
	root    *os.Root
	kinds   map[string]byte // path -> tar type written there ('5' folder, '0' file, '2' symlink)
	bytes   int64
	entries int
}

// New writes into dest, which must be an empty folder.
func New(dest string, o Options) (*Extractor, error) {
	if o.Limits.Bytes <= 0 {
		o.Limits.Bytes = DefaultLimits.Bytes
	}
	if o.Limits.Entries <= 0 {
		o.Limits.Entries = DefaultLimits.Entries
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return nil, err
	}
	return &Extractor{o: o, root: root, kinds: map[string]byte{}}, nil
}

// Close releases the folder.
func (x *Extractor) Close() error { return x.root.Close() }

// bad is bad input about the archive's content.
func (x *Extractor) bad(format string, args ...any) error {
	return usererr.New("%s: %s", x.o.Shown, fmt.Sprintf(format, args...))
}

// Archive unpacks file (opened, size bytes) in format f.
func (x *Extractor) Archive(f *os.File, size int64, format Format) error {
	switch format {
	case Zip:
		return x.Zip(f, size)
	case Tar:
		return x.Tar(f)
	case Gzip:
		zr, err := gzip.NewReader(f)
		if err != nil {
			return x.bad("not a valid gzip stream: %v", err)
		}
		defer zr.Close()
		return x.Tar(zr)
	case Zstd:
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20))
		if err != nil {
			return x.bad("not a valid zstd stream: %v", err)
		}
		defer zr.Close()
		return x.Tar(zr)
	}
	return x.bad("is not a zip, tar, tar.gz or tar.zst archive; set extract = false to install the file as it is")
}

// Tar unpacks a tar stream.
func (x *Extractor) Tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if x.entries == 0 && !x.o.Overlay {
				return x.bad("holds no entries (an empty or damaged archive)")
			}
			return nil
		}
		if err != nil {
			return x.bad("not a valid tar: %v", err)
		}
		if err := x.tarEntry(h, tr); err != nil {
			return err
		}
	}
}

func (x *Extractor) tarEntry(h *tar.Header, tr *tar.Reader) error {
	switch h.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // PAX defaults for the entries that follow; nothing to write
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeChar, tar.TypeBlock:
		return x.bad("entry %q is a device; graft never installs devices", h.Name)
	case tar.TypeFifo:
		return x.bad("entry %q is a named pipe; graft installs only files, folders and symlinks", h.Name)
	default:
		return x.bad("entry %q has tar type %q, which graft does not install; only files, folders and links", h.Name, string(h.Typeflag))
	}
	name, ok, err := x.place(h.Name)
	if err != nil || !ok {
		return err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return x.dir(name)
	case tar.TypeSymlink:
		return x.symlink(name, h.Linkname)
	case tar.TypeLink:
		return x.hardlink(name, h.Name, h.Linkname)
	}
	return x.file(name, tr, h.Size, h.Mode&0o111 != 0)
}

// Zip unpacks a zip file.
func (x *Extractor) Zip(r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return x.bad("not a valid zip: %v", err)
	}
	if len(zr.File) == 0 {
		return x.bad("holds no entries (an empty or damaged archive)")
	}
	for _, f := range zr.File {
		if err := x.zipEntry(f); err != nil {
			return err
		}
	}
	return nil
}

func (x *Extractor) zipEntry(f *zip.File) error {
	mode := f.Mode()
	switch {
	case mode&fs.ModeDevice != 0 || mode&fs.ModeCharDevice != 0:
		return x.bad("entry %q is a device; graft never installs devices", f.Name)
	case mode&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
		return x.bad("entry %q is a %s; graft installs only files, folders and symlinks", f.Name, mode.Type())
	}
	name, ok, err := x.place(f.Name)
	if err != nil || !ok {
		return err
	}
	if f.UncompressedSize64 > uint64(x.o.Limits.Bytes) {
		return x.tooBig(f.Name, x.o.Limits.Bytes)
	}
	switch {
	case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
		return x.dir(name)
	case mode&fs.ModeSymlink != 0:
		if f.UncompressedSize64 > maxLink {
			return x.bad("entry %q is a symlink of %d bytes; a target may have at most %d", f.Name, f.UncompressedSize64, maxLink)
		}
		rc, err := f.Open()
		if err != nil {
			return x.bad("entry %q: %v", f.Name, err)
		}
		target, err := io.ReadAll(io.LimitReader(rc, maxLink+1))
		rc.Close()
		if err != nil {
			return x.bad("entry %q: %v", f.Name, err)
		}
		return x.symlink(name, string(target))
	}
	rc, err := f.Open()
	if err != nil {
		return x.bad("entry %q: %v", f.Name, err)
	}
	defer rc.Close()
	return x.file(name, rc, int64(f.UncompressedSize64), mode.Perm()&0o111 != 0)
}

// File writes one file named name (not an archive; a slash-separated path inside the folder)
// with size bytes from r.
func (x *Extractor) File(name string, r io.Reader, size int64) error {
	if name == "" || strings.HasSuffix(name, "/") || name == "." || name == ".." {
		return x.bad("file name %q cannot be installed; give the file another name", name)
	}
	p, ok, err := x.place(name)
	if err != nil || !ok {
		return err
	}
	return x.file(p, r, size, false)
}

// place checks an entry's name and maps it through Strip and Path; ok is false for entries left
// out (above the strip depth or outside Path). It also counts the entry.
func (x *Extractor) place(raw string) (string, bool, error) {
	if x.entries++; x.entries > x.o.Limits.Entries {
		return "", false, x.bad("holds more than %d entries; graft refuses archives that large (an archive bomb?)", x.o.Limits.Entries)
	}
	name := strings.TrimPrefix(raw, "./")
	switch {
	case strings.ContainsRune(name, 0):
		return "", false, x.bad("entry %q holds a NUL byte", raw)
	case strings.Contains(name, "\\"):
		return "", false, x.bad("entry %q holds a backslash; graft refuses Windows paths, which may mean another folder on extraction", raw)
	case path.IsAbs(name):
		return "", false, x.bad("entry %q is an absolute path; an archive's entries must stay in its folder", raw)
	}
	var parts []string
	for _, c := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		switch {
		case c == "" || c == ".":
			continue
		case c == "..":
			return "", false, x.bad("entry %q climbs out of the folder (\"..\"); an archive's entries must stay in it", raw)
		case strings.EqualFold(c, ".git"):
			return "", false, x.bad("entry %q is inside a .git folder, which graft never installs", raw)
		}
		parts = append(parts, c)
	}
	if len(parts) <= x.o.Strip {
		return "", false, nil
	}
	rel := strings.Join(parts[x.o.Strip:], "/")
	if x.o.Path != "" {
		rest, ok := strings.CutPrefix(rel, x.o.Path+"/")
		if !ok {
			return "", false, nil // the folder itself, or outside it
		}
		rel = rest
	}
	return rel, true, nil
}

// parents creates the folders above name; a parent that is a file or symlink is refused, so no
// entry is ever written through a link.
func (x *Extractor) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	var todo []string
	for d := dir; d != "."; d = path.Dir(d) {
		todo = append(todo, d)
	}
	for i := len(todo) - 1; i >= 0; i-- {
		d := todo[i]
		switch x.kinds[d] {
		case tar.TypeDir:
			continue
		case 0:
			if err := x.root.Mkdir(filepath.FromSlash(d), 0o755); err != nil {
				return fmt.Errorf("%s: %w", x.o.Shown, err)
			}
			x.kinds[d] = tar.TypeDir
		case tar.TypeSymlink:
			return x.bad("entry %q goes through the symlink %q; an archive may not write through its own links", name, d)
		default:
			return x.bad("entry %q goes through %q, which is a file", name, d)
		}
	}
	return nil
}

// claim makes name free to write: it must be new, unless Overlay lets a later layer replace it.
func (x *Extractor) claim(name string, kind byte) (skip bool, err error) {
	if err := x.whiteout(name); err != nil || x.isWhiteout(name) {
		return true, err
	}
	old, seen := x.kinds[name]
	switch {
	case !seen:
	case old == tar.TypeDir && kind == tar.TypeDir:
		return true, nil
	case !x.o.Overlay:
		return false, x.bad("entry %q appears twice; graft refuses archives whose entries overwrite each other", name)
	default:
		if err := x.remove(name); err != nil {
			return false, err
		}
	}
	return false, x.parents(name)
}

func (x *Extractor) isWhiteout(name string) bool {
	return x.o.Overlay && strings.HasPrefix(path.Base(name), ".wh.")
}

// whiteout applies an image layer's deletion markers: .wh.NAME deletes NAME, .wh..wh..opq
// empties the folder it is in.
func (x *Extractor) whiteout(name string) error {
	if !x.isWhiteout(name) {
		return nil
	}
	dir, base := path.Dir(name), path.Base(name)
	if base == ".wh..wh..opq" {
		for p := range x.kinds {
			if dir == "." || strings.HasPrefix(p, dir+"/") {
				if err := x.remove(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
	if _, ok := x.kinds[gone]; !ok {
		return nil
	}
	return x.remove(gone)
}

// remove deletes what was written at name (and below it) in the folder.
func (x *Extractor) remove(name string) error {
	if _, ok := x.kinds[name]; !ok {
		return nil
	}
	if err := x.root.RemoveAll(filepath.FromSlash(name)); err != nil {
		return fmt.Errorf("%s: %w", x.o.Shown, err)
	}
	for p := range x.kinds {
		if p == name || strings.HasPrefix(p, name+"/") {
			delete(x.kinds, p)
		}
	}
	return nil
}

func (x *Extractor) dir(name string) error {
	if name == "" {
		return nil
	}
	if skip, err := x.claim(name, tar.TypeDir); err != nil || skip {
		return err
	}
	if err := x.root.Mkdir(filepath.FromSlash(name), 0o755); err != nil {
		return fmt.Errorf("%s: %w", x.o.Shown, err)
	}
	x.kinds[name] = tar.TypeDir
	return nil
}

func (x *Extractor) symlink(name, target string) error {
	if len(target) > maxLink {
		return x.bad("entry %q is a symlink to a target of %d bytes, over the %d a path may have", name, len(target), maxLink)
	}
	if err := filetree.CheckLink(name, target); err != nil {
		return x.bad("entry %q: %v", name, err)
	}
	if skip, err := x.claim(name, tar.TypeSymlink); err != nil || skip {
		return err
	}
	if err := x.root.Symlink(target, filepath.FromSlash(name)); err != nil {
		return fmt.Errorf("%s: %w", x.o.Shown, err)
	}
	x.kinds[name] = tar.TypeSymlink
	return nil
}

// hardlink writes a copy of an earlier file of the archive (a layer holds no hard links to
// what it does not hold either).
func (x *Extractor) hardlink(name, raw, target string) error {
	t, ok, err := x.place(target)
	x.entries-- // the target was counted as its own entry
	if err != nil {
		return err
	}
	if !ok || x.kinds[t] != tar.TypeReg {
		return x.bad("entry %q is a hard link to %q, which is not a file written before it", raw, target)
	}
	src, err := x.root.OpenFile(filepath.FromSlash(t), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", x.o.Shown, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", x.o.Shown, err)
	}
	return x.file(name, src, st.Size(), st.Mode().Perm()&0o111 != 0)
}

func (x *Extractor) tooBig(entry string, limit int64) error {
	return x.bad("entry %q would unpack to more than %d bytes in all; graft refuses archives that large (an archive bomb?)", entry, limit)
}

// file writes a regular file of size bytes from r: the size counts against the limit before
// anything is written, and r giving more or fewer bytes than size is refused.
func (x *Extractor) file(name string, r io.Reader, size int64, exec bool) error {
	if size < 0 || size > x.o.Limits.Bytes-x.bytes {
		return x.tooBig(name, x.o.Limits.Bytes)
	}
	if skip, err := x.claim(name, tar.TypeReg); err != nil || skip {
		return err
	}
	x.bytes += size
	perm := os.FileMode(0o644)
	if exec {
		perm = 0o755
	}
	out, err := x.root.OpenFile(filepath.FromSlash(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("%s: %w", x.o.Shown, err)
	}
	n, err := io.Copy(out, io.LimitReader(r, size+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	x.kinds[name] = tar.TypeReg
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return x.bad("entry %q is truncated: the archive ends inside it", name)
	case errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat):
		return x.bad("entry %q is damaged: %v", name, err)
	case err != nil:
		return fmt.Errorf("%s: entry %q: %w", x.o.Shown, name, err)
	case n > size:
		return x.bad("entry %q holds more bytes than its header says (%d); the archive lies about its sizes", name, size)
	case n < size:
		return x.bad("entry %q holds fewer bytes than its header says (%d, got %d); the archive is truncated", name, size, n)
	}
	return nil
}
