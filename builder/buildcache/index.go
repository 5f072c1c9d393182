package buildcache

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version names the shared cache's index format. An index of another version is ignored,
// whole: its IDs were computed, and its entries mean, what this graft does not know.
// 2: listings carry each file's git object ID, the commit object and the trees down to the
// plugin's path, so that they are checked against graft.lock rather than believed.
const Version = "graft-layer-cache/2"

// Index is the shared cache's document (--cache-from, --cache-to).
type Index struct {
	Version  string                `json:"version"`
	Layers   map[string]Descriptor `json:"layers"`
	Listings map[string]Listing    `json:"listings"`
	Folders  map[string][]Folder   `json:"folders,omitempty"`
	// Licenses are the SBOM's licence verdicts by ID (builder/attest): the licence of the plugin
	// in a layer, "" when none was recognised.
	Licenses map[string]string `json:"licenses,omitempty"`
}

// Descriptor is a cached layer: enough to put it in an image without reading it (and, read,
// what its bytes must hash to).
type Descriptor struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diff_id"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
}

// Listing is a plugin's files without their contents, with what proves it against graft.lock:
// the commit object (whose hash is the locked commit, and whose committer time is the layer's
// mtime), the trees from the commit's root down to the plugin's path, and each entry's git
// object ID, from which the locked tree is computed again.
type Listing struct {
	CommitTime time.Time `json:"commit_time"`
	Commit     []byte    `json:"commit"`          // the commit object (base64 in JSON)
	Trees      [][]byte  `json:"trees,omitempty"` // tree objects from the root to path's parent
	Files      []File    `json:"files"`
}

// File is one entry of a Listing as the git tree holds it: Mode is the tree's (0100644,
// 0100755, 0100664, 0120000, 040000, 0160000), ID the object it names (hex).
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"`
	ID   string `json:"id"`
	Link string `json:"link,omitempty"`
}

// Folder is a folder of a base image as the build repeats it above its own layers (owner and
// mode from the base), recorded so a fresh runner need not read the base's layers to learn it.
type Folder struct {
	Path string `json:"path"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Mode int64  `json:"mode"`
	Link string `json:"link,omitempty"` // the base has a symlink here
}

func newIndex() *Index {
	return &Index{Version: Version, Layers: map[string]Descriptor{}, Listings: map[string]Listing{},
		Folders: map[string][]Folder{}, Licenses: map[string]string{}}
}

// parseIndex reads an index of this version; nil (with why) for another version or a
// malformed one. Entries are checked one by one when a build looks them up.
func parseIndex(data []byte) (*Index, string) {
	var probe struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, "not a graft layer cache index: " + err.Error()
	}
	if probe.Version != Version {
		return nil, fmt.Sprintf("written in format %q, this graft reads %q: ignored (the next --cache-to replaces it)", probe.Version, Version)
	}
	idx := newIndex()
	if err := json.Unmarshal(data, idx); err != nil {
		return nil, "malformed index: " + err.Error()
	}
	return idx, ""
}
