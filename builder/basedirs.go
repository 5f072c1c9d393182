package builder

import (
	"archive/tar"
	"context"
	"fmt"
	"path"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/internal/imagefs"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

// Why graft's last layer repeats folders of the base.
//
// graft's layers hold no entries above what they own (plugins_dir/NAME, the launcher's files),
// so that they never replace the base's owner and mode of plugins_dir or the app's folder. But
// Docker Engine applies a layer into an empty folder and creates every parent the tar lacks as
// root:root 0755, and on overlay filesystems that new folder hides the base's one: after
// graft's layers, /archivesspace would be root's and the app (uid 1000) could no longer write in
// it. (containerd copies the parents' metadata from the layers below; Docker does not.) So the
// launcher configuration layer, the last one, carries an explicit entry for each such folder
// with the metadata the base gives it, which is what every runtime then shows.

// baseDir is one folder of the base image's file system, as its layers leave it.
type baseDir = buildcache.Folder

// systemDirs are left out: every base has them root:root 0755, which is what a runtime creates
// for a missing parent anyway, so reading the (large, early) layers that hold them would be
// wasted.
var systemDirs = map[string]bool{"/usr": true, "/usr/local": true, "/usr/local/bin": true, "/etc": true,
	"/run": true, "/var": true, "/var/run": true, "/var/lib": true, "/opt": true, "/srv": true, "/home": true}

// ancestorDirs are the folders above what graft's layers own for this site: every folder from
// "/" (excluded) down to plugins_dir, and to the parents of port_dir and tmp_dir, without the
// system folders.
func ancestorDirs(p *lockfile.Project, lc []string) []string {
	set := map[string]bool{}
	add := func(dir string) {
		for d := path.Clean(dir); d != "/" && d != "."; d = path.Dir(d) {
			if !systemDirs[d] {
				set[d] = true
			}
		}
	}
	add(p.Site.PluginsDir)
	if p.Lock != nil {
		for _, pk := range p.Lock.Plugins {
			if pk.Dest != "" {
				add(path.Dir(pk.Dest)) // the folders above a plugin's own [install] dest
			}
		}
	}
	for _, d := range lc {
		add(path.Dir(path.Clean(d)))
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// baseDirs finds paths in the base's layers, from the top layer down, stopping once each is
// known: the topmost layer that holds a path (or deletes it with a whiteout) decides it. Paths
// the base does not have are left out. The answer depends only on the base manifest and the
// paths: it is kept in the build cache (locally and in --cache-to), so a fresh CI runner does
// not download the base's layers to learn it.
func baseDirs(ctx context.Context, img v1.Image, digest v1.Hash, paths []string, o *options) ([]baseDir, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	return o.buildCache.Folders(digest, paths, func() ([]baseDir, error) { return scanBaseDirs(ctx, img, paths) })
}

// scanBaseDirs reads the base's layers for paths (package imagefs): a folder or symlink there is
// a baseDir; a file where a folder is wanted is left out (adding files under it fails anyway).
func scanBaseDirs(ctx context.Context, img v1.Image, paths []string) ([]baseDir, error) {
	found, err := imagefs.Find(ctx, img, paths, false)
	if err != nil {
		return nil, fmt.Errorf("base %w", err)
	}
	out := make([]baseDir, 0, len(found))
	for _, p := range paths {
		e, ok := found[p]
		if !ok || (e.Type != tar.TypeDir && e.Type != tar.TypeSymlink) {
			continue
		}
		d := baseDir{Path: p, UID: e.UID, GID: e.GID, Mode: e.Mode}
		if e.Type == tar.TypeSymlink {
			d.Link = e.Link
		}
		out = append(out, d)
	}
	return out, nil
}

// checkBaseDirs refuses a site whose folders go through a symlink of the base: graft's layers
// would create a real folder there, hiding the link and everything the base keeps behind it.
func checkBaseDirs(dirs []baseDir, base string) error {
	for _, d := range dirs {
		if d.Link != "" {
			return usererr.New("base image %s: %s is a symlink to %s, and graft.toml's plugins_dir, port_dir or tmp_dir is below it; "+
				"graft's layers would replace the link with a folder: use the real path (under %s) in graft.toml", base, d.Path, d.Link, d.Link)
		}
	}
	return nil
}
