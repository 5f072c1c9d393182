package buildkit

import (
	"archive/tar"
	"path"
	"strings"

	"github.com/graft-build/graft/builder/layer"
)

// OCI whiteouts: ".wh.NAME" deletes NAME from the layers below; ".wh..wh..opq" in a folder hides
// everything the layers below hold in it.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// squash merges layers (bottom first) into the entries of one layer with the same effect on any
// base: BuildKit exports llb.Diff(base, after) as one layer per step (the copy of the plugin's
// files, then each command), graft wants one layer per plugin. Deletions survive as whiteouts.
func squash(layers [][]layer.Entry) []layer.Entry {
	s := &squasher{decided: map[string]layer.Entry{}, hidden: map[string]bool{}}
	for i := len(layers) - 1; i >= 0; i-- {
		s.add(layers[i])
	}
	out := make([]layer.Entry, 0, len(s.decided))
	for _, e := range s.decided {
		out = append(out, e)
	}
	return out
}

type squasher struct {
	decided map[string]layer.Entry // path -> what the merged layer holds there
	hidden  map[string]bool        // paths whose lower content (at and below) no longer shows
}

// add applies one layer, lower than every layer added before.
func (s *squasher) add(entries []layer.Entry) {
	var hide []string // applied after the whole layer: a layer's whiteouts act on lower layers only
	for _, e := range entries {
		p := path.Clean("/" + e.Name)
		if s.isHidden(p) {
			continue
		}
		dir, base := path.Split(p)
		dir = path.Clean(dir)
		switch {
		case base == opaqueMarker:
			s.decide(p, e)
			hide = append(hide, below(dir))
		case strings.HasPrefix(base, whiteoutPrefix):
			hide = append(hide, s.whiteout(p, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)), e)...)
		default:
			if _, done := s.decided[p]; done {
				continue // a higher layer replaced it
			}
			s.decided[p] = e
			if e.Type != tar.TypeDir {
				hide = append(hide, below(p)) // nothing lower can live under a file
			}
		}
	}
	for _, h := range hide {
		s.hidden[h] = true
	}
}

// whiteout handles ".wh.NAME" at p deleting target, and returns what it hides below.
func (s *squasher) whiteout(p, target string, e layer.Entry) []string {
	higher, recreated := s.decided[target]
	switch {
	case !recreated:
		s.decide(p, e) // the deletion reaches the base
	case higher.Type == tar.TypeDir:
		// Deleted, then made again as a folder: the base's old contents must stay hidden.
		s.decide(target+"/"+opaqueMarker, layer.Entry{Name: target + "/" + opaqueMarker, Type: tar.TypeReg})
	}
	return []string{target, below(target)}
}

func (s *squasher) decide(p string, e layer.Entry) {
	if _, done := s.decided[p]; !done {
		e.Name = p
		s.decided[p] = e
	}
}

// isHidden reports whether a higher layer deleted p, made a file at one of its parents, or
// marked one of its parents opaque. Keys ending in "/" hide what is below a path; others hide
// the path itself.
func (s *squasher) isHidden(p string) bool {
	if s.hidden[p] {
		return true
	}
	for dir := path.Dir(p); ; dir = path.Dir(dir) {
		if s.hidden[below(dir)] {
			return true
		}
		if dir == "/" {
			return false
		}
	}
}

// below is the key hiding everything under dir.
func below(dir string) string {
	if dir == "/" {
		return "/"
	}
	return dir + "/"
}
