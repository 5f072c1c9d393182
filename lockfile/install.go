package lockfile

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/atomicfile"
	"github.com/graft-build/graft/internal/imagefs"
	"github.com/graft-build/graft/internal/tomldecode"
	"github.com/graft-build/graft/launcher/config"
)

// Target is where plugin pk is installed in the image: graft.lock's dest (an [install] file or
// dest), else the folder plugins_dir/NAME.
func (p *Project) Target(pk PluginLock) string {
	if pk.Dest != "" {
		return pk.Dest
	}
	return path.Join(p.Site.PluginsDir, pk.Name)
}

// InstallsFile reports whether the plugin is installed as one file (install.as = "file").
func (pl Plugin) InstallsFile() bool { return pl.Install.As == AsFile }

// doubleExts keep both parts as a file's extension.
var doubleExts = []string{".tar.gz", ".tar.zst", ".tar.bz2", ".tar.xz"}

// fileExt is name's extension: ".jar", ".tar.gz"; "" when it has none.
func fileExt(name string) string {
	lower := strings.ToLower(name)
	for _, e := range doubleExts {
		if strings.HasSuffix(lower, e) && len(name) > len(e) {
			return name[len(name)-len(e):]
		}
	}
	if e := path.Ext(name); e != name {
		return e
	}
	return ""
}

// installDest is graft.lock's dest for pl, given the names at the top of what it installs: ""
// for the folder plugins_dir/NAME; [install] dest; for a plugin installed as one file,
// plugins_dir/NAME.EXT (EXT from the one file's name) unless dest names the file.
func (p *Project) installDest(pl Plugin, top []topEntry) (string, error) {
	if !pl.InstallsFile() {
		return pl.Install.Dest, nil
	}
	if len(top) != 1 || !top[0].file {
		var names []string
		for i, e := range top {
			if i == 5 {
				names = append(names, "...")
				break
			}
			names = append(names, e.name)
		}
		what := "nothing"
		if len(names) > 0 {
			what = strings.Join(names, ", ")
		}
		return "", p.pluginErr(pl, "install.as", "plugin %s is installed as one file, but its source holds %s at the top; "+
			"point source.path at a folder holding just the file, or install it as a folder", pl.Name, what)
	}
	if pl.Install.Dest != "" {
		return pl.Install.Dest, nil
	}
	return path.Join(p.Site.PluginsDir, pl.Name+fileExt(top[0].name)), nil
}

// installKey is the plugin.toml key that decides where pl goes, for messages.
func installKey(pl Plugin) string {
	switch {
	case pl.Install.Dest != "":
		return "install.dest"
	case pl.InstallsFile():
		return "install.as"
	}
	return "install.replace"
}

// graftPaths are the files graft itself adds to every image; no plugin may go at, above or
// below them.
func (p *Project) graftPaths() []string {
	ports := p.Site.Launcher.PortDir
	if ports == "" {
		ports = config.DefaultPortDir
	}
	return []string{"/usr/local/bin/graft-launcher", path.Dir(config.DefaultPath), ports}
}

func within(p, dir string) bool { return dir == "/" || strings.HasPrefix(p, dir+"/") }

// checkTargets refuses two plugins writing one path (one's target at or inside another's), a
// plugin at graft's own files, and a plugin with an [install] table replacing what the base
// image has at its target without replace = true. base gives the base image to look in (read at most once,
// and not at all when the answer is cached under cacheDir).
func (p *Project) checkTargets(ctx context.Context, lock *Lock, base func() (v1.Image, error), cacheDir string) error {
	type target struct {
		path string
		pl   Plugin
	}
	var ts []target
	for _, pk := range lock.Plugins {
		if pl := p.Plugin(pk.Name); pl != nil {
			ts = append(ts, target{p.Target(pk), *pl})
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].path < ts[j].path })
	var errs tomldecode.Errors
	add := func(err error) {
		if e, ok := err.(*tomldecode.Error); ok {
			errs = append(errs, e)
		}
	}
	for i, a := range ts {
		for _, b := range ts[i+1:] {
			if a.path != b.path && !within(b.path, a.path) {
				continue
			}
			blame, other := b, a // the plugin whose [install] moved it there
			if installKey(a.pl) != "install.replace" && installKey(b.pl) == "install.replace" {
				blame, other = a, b
			}
			add(p.pluginErr(blame.pl, installKey(blame.pl), "plugin %s goes to %s, and plugin %s to %s: two plugins never write the same path; change one [install] dest",
				blame.pl.Name, blame.path, other.pl.Name, other.path))
		}
		for _, g := range p.graftPaths() {
			if a.path == g || within(a.path, g) || within(g, a.path) {
				add(p.pluginErr(a.pl, installKey(a.pl), "plugin %s goes to %s, where graft keeps its own %s; pick another dest", a.pl.Name, a.path, g))
			}
		}
	}
	// The base is read only for plugins with an [install] table: a default plugin folder
	// (plugins_dir/NAME) is what sites have always had, and looking for it would mean reading
	// every layer of the base at every new base digest.
	var placed []target
	for _, t := range ts {
		if t.pl.Install != (Install{}) {
			placed = append(placed, t)
		}
	}
	if len(errs) > 0 || base == nil || len(placed) == 0 {
		return errs.Err()
	}
	ts = placed
	paths := make([]string, len(ts))
	for i, t := range ts {
		paths[i] = t.path
	}
	have, err := baseEntries(ctx, lock.Base.Digest, paths, base, cacheDir)
	if err != nil {
		return fmt.Errorf("base image %s: %w", p.Site.Base, err)
	}
	for _, t := range ts {
		e, ok := have[t.path]
		switch {
		case !ok:
		case e.Type == tar.TypeSymlink:
			add(p.pluginErr(t.pl, installKey(t.pl), "the base image has a symlink at %s (to %s); installing plugin %s there would replace the link: give the real path as [install] dest",
				t.path, e.Link, t.pl.Name))
		case !t.pl.Install.Replace:
			what := "a file"
			if e.Type == tar.TypeDir {
				what = "a folder"
			}
			add(p.pluginErr(t.pl, installKey(t.pl), "the base image already has %s at %s; installing plugin %s there replaces it: "+
				"set replace = true under [install] if that is meant, or pick another dest", what, t.path, t.pl.Name))
		}
	}
	return errs.Err()
}

// baseEntries is what the base (manifest digest) has at paths, kept in cacheDir/basepaths so
// that locking again reads no layer.
func baseEntries(ctx context.Context, digest string, paths []string, base func() (v1.Image, error), cacheDir string) (map[string]imagefs.Entry, error) {
	sum := sha256.Sum256([]byte("graft basepaths 1\x00" + digest + "\x00" + strings.Join(paths, "\x00")))
	file := ""
	if cacheDir != "" {
		file = filepath.Join(cacheDir, "basepaths", hex.EncodeToString(sum[:])+".json")
		if data, err := os.ReadFile(file); err == nil {
			var out map[string]imagefs.Entry
			if json.Unmarshal(data, &out) == nil {
				return out, nil
			}
		}
	}
	img, err := base()
	if err != nil {
		return nil, err
	}
	out, err := imagefs.Find(ctx, img, paths, true)
	if err != nil {
		return nil, err
	}
	if file != "" {
		if data, err := json.Marshal(out); err == nil && os.MkdirAll(filepath.Dir(file), 0o755) == nil {
			_ = atomicfile.Write(file, data, 0o644) // failing to cache is not an error
		}
	}
	return out, nil
}
