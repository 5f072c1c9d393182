// Package layer makes deterministic image layers: the same files give the same bytes, digest and
// diff ID on any machine at any time. Both engines use it: the daemonless builder for a plugin's
// git tree and the launcher, the BuildKit engine to normalize what build steps produced.
//
// A layer's tar has its entries sorted by path, the explicit parent directories its own tree
// needs (never those above its root, which belong to the base image: a layer that carried
// /usr or the plugins folder would silently replace the base's owner and mode of it), one fixed
// mtime, the given uid/gid, no user or group names, no access or change times, and is compressed
// with a fixed gzip level (see compress.go).
package layer

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file of a layer.
type Entry struct {
	Name     string // slash-separated path from the image root; a leading "/" is optional
	Type     byte   // tar.TypeReg, TypeDir, TypeSymlink, TypeLink, TypeChar, TypeBlock, TypeFifo
	Mode     int64  // permission bits (07777)
	Linkname string // symlink target, or hard link target (a path like Name)
	Data     []byte // content of a regular file
	// Open streams a regular file's content instead of Data (a plugin's big files are never
	// held in memory whole); it must give exactly Size bytes. Called once, when the entry is
	// written; an error it returns (or a reader's, e.g. a hash mismatch) fails the layer.
	Open     func() (io.ReadCloser, error)
	Size     int64 // the content's length when Open is set
	UID, GID int   // kept only for entries outside the root (WithRoot), else replaced by the owner
	Devmajor int64
	Devminor int64
	Xattrs   map[string]string // extended attributes (e.g. security.capability), kept as PAX records
}

type options struct {
	epoch     time.Time
	uid, gid  int
	root      string // cleaned absolute path, "/" when unset
	mediaType types.MediaType
	level     int
	cacheDir  string
}

// Option configures how a layer is made.
type Option func(*options)

// WithEpoch sets the mtime of every entry (truncated to seconds). Default: the Unix epoch.
func WithEpoch(t time.Time) Option {
	return func(o *options) { o.epoch = t.UTC().Truncate(time.Second) }
}

// WithOwner sets the uid and gid of every entry at or below the root. Default: 0:0.
func WithOwner(uid, gid int) Option { return func(o *options) { o.uid, o.gid = uid, gid } }

// WithRoot names the directory this layer owns, e.g. /archivesspace/plugins/aspace-oauth.
// Missing parent directories are added for the root and below it, never above it; entries
// outside the root keep their own uid/gid (a build step may touch the base's files).
// Default: "/" (the layer owns everything it holds).
func WithRoot(dir string) Option { return func(o *options) { o.root = path.Clean("/" + dir) } }

// WithMediaType sets the layer's media type; match the base image (types.OCILayer or
// types.DockerLayer). Default: types.OCILayer.
func WithMediaType(mt types.MediaType) Option { return func(o *options) { o.mediaType = mt } }

// WithLevel sets the gzip level (1-9). Default: DefaultLevel. Changing it changes digests.
func WithLevel(level int) Option { return func(o *options) { o.level = level } }

func newOptions(opts []Option) *options {
	o := &options{epoch: time.Unix(0, 0).UTC(), root: "/", mediaType: types.OCILayer, level: DefaultLevel}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// under reports whether p (cleaned, absolute) is dir or inside it.
func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// normalize cleans names, drops duplicates (the last one wins, as when a tar is extracted),
// adds missing parents at or below the root, applies the owner, and sorts by path.
func normalize(entries []Entry, o *options) ([]Entry, error) {
	byName := make(map[string]Entry, len(entries))
	for _, e := range entries {
		if strings.Contains(e.Name, "\x00") {
			return nil, fmt.Errorf("layer entry %q: NUL in name", e.Name)
		}
		e.Name = path.Clean("/" + e.Name)
		if e.Name == "/" {
			continue // the image root itself is never a layer entry
		}
		if e.Type == tar.TypeLink {
			e.Linkname = path.Clean("/" + e.Linkname)
		}
		byName[e.Name] = e
	}
	for name := range byName {
		addParents(byName, name, o)
	}
	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		if under(e.Name, o.root) {
			e.UID, e.GID = o.uid, o.gid
		}
		out = append(out, e)
	}
	// Sorting full paths puts every directory before its contents: a path sorts after its prefixes.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return fixHardlinks(out)
}

// addParents adds the missing directories between the root and name.
func addParents(byName map[string]Entry, name string, o *options) {
	for dir := path.Dir(name); dir != "/" && under(dir, o.root); dir = path.Dir(dir) {
		if _, ok := byName[dir]; ok {
			continue
		}
		byName[dir] = Entry{Name: dir, Type: tar.TypeDir, Mode: 0o755}
	}
}

// fixHardlinks makes every hard link point at an entry written before it: after sorting, the
// first name of a link group holds the content and the others link to it.
func fixHardlinks(sorted []Entry) ([]Entry, error) {
	index := make(map[string]int, len(sorted))
	for i, e := range sorted {
		index[e.Name] = i
	}
	first := map[string]string{} // target -> first name of its group in sorted order
	for _, e := range sorted {
		if e.Type != tar.TypeLink {
			continue
		}
		t, ok := index[e.Linkname]
		if !ok {
			return nil, fmt.Errorf("layer entry %s: hard link to %s, which the layer does not hold", e.Name, e.Linkname)
		}
		if sorted[t].Type == tar.TypeLink {
			return nil, fmt.Errorf("layer entry %s: hard link to %s, which is itself a hard link", e.Name, e.Linkname)
		}
		if f, seen := first[e.Linkname]; !seen || e.Name < f {
			first[e.Linkname] = e.Name
		}
	}
	for target, firstName := range first {
		if target < firstName {
			continue // the target already comes first
		}
		ti, fi := index[target], index[firstName]
		content := sorted[ti]
		sorted[fi], sorted[ti] = content, sorted[fi]
		sorted[fi].Name, sorted[ti].Name = firstName, target
		sorted[ti].Type, sorted[ti].Linkname, sorted[ti].Data, sorted[ti].Open = tar.TypeLink, firstName, nil, nil
		for i := range sorted {
			if sorted[i].Type == tar.TypeLink && sorted[i].Linkname == target && i != ti {
				sorted[i].Linkname = firstName
			}
		}
	}
	return sorted, nil
}

// size is a regular file's content length.
func (e Entry) size() int64 {
	if e.Open != nil {
		return e.Size
	}
	return int64(len(e.Data))
}

// header is the tar header of e: nothing that varies by machine or time.
func header(e Entry, o *options) *tar.Header {
	name := strings.TrimPrefix(e.Name, "/")
	h := &tar.Header{
		Typeflag: e.Type,
		Name:     name,
		Mode:     e.Mode & 0o7777,
		Uid:      e.UID,
		Gid:      e.GID,
		ModTime:  o.epoch,
		Devmajor: e.Devmajor,
		Devminor: e.Devminor,
	}
	switch e.Type {
	case tar.TypeDir:
		h.Name += "/"
	case tar.TypeReg:
		h.Size = e.size()
	case tar.TypeSymlink:
		h.Linkname = e.Linkname
	case tar.TypeLink:
		h.Linkname = strings.TrimPrefix(e.Linkname, "/")
	}
	if len(e.Xattrs) > 0 {
		h.PAXRecords = make(map[string]string, len(e.Xattrs))
		for k, v := range e.Xattrs {
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		h.Format = tar.FormatPAX
	}
	return h
}
