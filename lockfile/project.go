package lockfile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/tomldecode"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/gitremote"
	"github.com/graft-build/graft/lockfile/localtree"
)

// Project is a loaded site repository: graft.toml, every plugin.toml and graft.lock if present.
type Project struct {
	Dir     string // the site repository (absolute)
	Site    *Site
	Plugins []Plugin // sorted by name
	Lock    *Lock    // nil when there is no graft.lock, or it cannot be read (see CheckFresh)

	shown      string // dir as the user gave it, for messages
	lockErr    error  // graft.lock exists but is unreadable (say, merge conflict markers)
	lockData   []byte // graft.lock as read, for the lines of messages
	siteData   []byte
	pluginData map[string][]byte // plugin name -> plugin.toml content
}

// Load reads and validates the site repository in dir. Bad input is reported as
// tomldecode errors (one line per problem, every file checked) or usererr errors.
func Load(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("site repository %s: %w", dir, err)
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, usererr.New("%s is a file, not a folder; run graft in a site repository (the folder holding graft.toml) or pass -C DIR", dir)
	}
	p := &Project{Dir: abs, shown: dir, pluginData: map[string][]byte{}}
	var errs tomldecode.Errors
	collect := func(err error) error {
		var one *tomldecode.Error
		var many tomldecode.Errors
		switch {
		case errors.As(err, &many):
			errs = append(errs, many...)
		case errors.As(err, &one):
			errs = append(errs, one)
		default:
			return err
		}
		return nil
	}
	if err := p.loadSite(dir); err != nil {
		if err := collect(err); err != nil {
			return nil, err
		}
	}
	if err := p.loadPlugins(dir, collect); err != nil {
		return nil, err
	}
	if len(errs) == 0 {
		if err := p.checkPluginOrder(); err != nil {
			collect(err)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// An unreadable lock does not stop Load: `graft lock` must be able to replace it. Commands
	// that need the lock get the error from CheckFresh, Check, Outdated or Resolve(WithUpdate).
	p.lockErr = p.loadLock(dir)
	return p, nil
}

func (p *Project) loadSite(dir string) error {
	file := filepath.Join(dir, SiteFile)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return usererr.New("%s: not found; run graft in a site repository (the folder holding graft.toml) or pass -C DIR", file)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	p.siteData = data
	site, err := ParseSite(file, data)
	if err != nil {
		return err
	}
	p.Site = site
	return nil
}

// loadPlugins parses plugins/*/plugin.toml; collect absorbs format errors so every file is checked.
func (p *Project) loadPlugins(dir string, collect func(error) error) error {
	root := filepath.Join(dir, PluginsDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil && !isDir(root) {
		return usererr.New("%s is not a folder; plugins/ holds one folder per plugin, each with a plugin.toml: remove or rename the file", root)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", root, err)
	}
	for _, e := range entries {
		if !isDir(filepath.Join(root, e.Name())) {
			continue // README and other files beside the plugin folders are allowed
		}
		file := filepath.Join(root, e.Name(), PluginFile)
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			err = &tomldecode.Error{File: file, Msg: "not found; every folder under plugins/ needs a plugin.toml (add one or remove the folder)"}
		} else if err != nil {
			return fmt.Errorf("read %s: %w", file, err)
		}
		var pl *Plugin
		if err == nil {
			pl, err = ParsePlugin(file, e.Name(), data)
		}
		if err != nil {
			if err := collect(err); err != nil {
				return err
			}
			continue
		}
		p.Plugins = append(p.Plugins, *pl)
		p.pluginData[pl.Name] = data
	}
	sort.Slice(p.Plugins, func(i, j int) bool { return p.Plugins[i].Name < p.Plugins[j].Name })
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func (p *Project) loadLock(dir string) error {
	path := filepath.Join(dir, LockFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return usererr.Wrap(err)
	}
	l, err := ParseLock(path, data)
	if err != nil {
		return usererr.Wrap(err)
	}
	p.Lock, p.lockData = l, data
	return nil
}

// DefinitionsDigest is a sha256 over graft.toml and every plugin.toml with their names, so any
// edit, added or removed plugin changes it. It needs no network: `lock --check` and `build`
// detect a stale lock offline.
func (p *Project) DefinitionsDigest() string {
	h := sha256.New()
	write := func(name string, data []byte) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	write(SiteFile, p.siteData)
	for _, pl := range p.Plugins {
		write(PluginsDir+"/"+pl.Name+"/"+PluginFile, p.pluginData[pl.Name])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// PluginDigest is the sha256 of one plugin's plugin.toml.
func (p *Project) PluginDigest(name string) string {
	sum := sha256.Sum256(p.pluginData[name])
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckFresh reports, offline, whether graft.lock matches the definitions. A missing or stale
// lock is bad input whose message says to run `graft lock`.
func (p *Project) CheckFresh() error {
	lockPath := p.shownPath(LockFile)
	if p.lockErr != nil {
		return p.lockErr
	}
	if p.Lock == nil {
		return usererr.New("%s: not found; run `graft lock` and commit graft.lock", lockPath)
	}
	if p.Lock.Definitions != p.DefinitionsDigest() {
		return usererr.New("%s: stale: graft.toml or a plugin.toml changed since it was written (%s); run `graft lock`",
			lockPath, p.describeDrift())
	}
	// The definitions match, so every locked value must be what plugin.toml says: a lock
	// edited to fetch another repository, ref or folder is refused, not built.
	return p.mismatchErrors(p.Mismatches())
}

// describeDrift names what differs between the definitions and the lock, for messages.
func (p *Project) describeDrift() string {
	for _, pl := range p.Plugins {
		pk := p.PluginLock(pl.Name)
		if pk == nil {
			return "plugin " + pl.Name + " is not in the lock"
		}
		if pk.Definition != p.PluginDigest(pl.Name) {
			return "plugins/" + pl.Name + "/plugin.toml changed"
		}
	}
	for _, pk := range p.Lock.Plugins {
		if p.Plugin(pk.Name) == nil {
			return "plugin " + pk.Name + " was removed"
		}
	}
	return "graft.toml changed"
}

// Plugin returns the plugin definition called name, or nil.
func (p *Project) Plugin(name string) *Plugin {
	for i := range p.Plugins {
		if p.Plugins[i].Name == name {
			return &p.Plugins[i]
		}
	}
	return nil
}

// PluginLock returns the locked entry for name, or nil (no lock, or not in it).
func (p *Project) PluginLock(name string) *PluginLock {
	if p.Lock == nil {
		return nil
	}
	for i := range p.Lock.Plugins {
		if p.Lock.Plugins[i].Name == name {
			return &p.Lock.Plugins[i]
		}
	}
	return nil
}

// SourceURL is the URL to contact for pl: graft.toml's mirrors applied (longest prefix wins),
// and a relative local path made absolute against the site repository.
func (p *Project) SourceURL(pl Plugin) string {
	return p.rewrite(pl.Source.Git)
}

func (p *Project) rewrite(u string) string {
	var mirrors []gitremote.Mirror
	if p.Site != nil {
		for _, m := range p.Site.Mirrors {
			mirrors = append(mirrors, gitremote.Mirror{Prefix: m.Prefix, URL: m.URL})
		}
	}
	return gitremote.Absolute(gitremote.Rewrite(u, mirrors), p.Dir)
}

// BaseRef is graft.toml's base, with a relative path taken from the site repository. A short
// name ("ubuntu:22.04") is Docker Hub's, as in a Dockerfile's FROM.
func (p *Project) BaseRef() (imageref.Ref, error) {
	r, err := p.baseRef()
	if err != nil {
		return imageref.Ref{}, usererr.Wrap(fmt.Errorf("%s: base: %w", p.shownPath(SiteFile), err))
	}
	return r, nil
}

func (p *Project) baseRef() (imageref.Ref, error) {
	return imageref.Parse(p.Site.Base, p.Dir, imageref.ShortNamesAreRemote())
}

// shownPath is name inside the site repository, as messages show it.
func (p *Project) shownPath(name string) string {
	if p.shown == "" {
		return filepath.Join(p.Dir, name)
	}
	return filepath.Join(p.shown, name)
}

// PluginError is bad input (exit 2) found after loading, at key of plugin name's plugin.toml:
// it names the file, the key's line and the key, like a parse error. With entry >= 0, key is
// "array.field" and the line is field's in the entry'th [[array]] (entry 1 of
// "launcher.template.dest" is the second template's dest).
func (p *Project) PluginError(name, key string, entry int, format string, args ...any) error {
	data := p.pluginData[name]
	msg := fmt.Sprintf(format, args...)
	line := tomldecode.LineOf(data, key)
	if i := strings.LastIndexByte(key, '.'); entry >= 0 && i > 0 {
		line = entryLine(data, entryKey{array: key[:i], index: entry, key: key[i+1:]})
	} else if line == 0 {
		line = tomldecode.LineOf(data, strings.Split(key, ".")[0])
	}
	return &tomldecode.Error{File: p.pluginFile(name), Line: line, Key: key, Msg: msg}
}

// LocalDir is the folder of local plugin pl: absolute, and as messages show it
// ("plugins/NAME/files").
func (p *Project) LocalDir(pl Plugin) (abs, shown string) {
	rel := filepath.Join(PluginsDir, pl.Name, filepath.FromSlash(pl.Source.Local))
	return filepath.Join(p.Dir, rel), filepath.ToSlash(rel)
}

// ReadLocal reads local plugin pl's folder from the working tree: its files and git tree hash.
func (p *Project) ReadLocal(pl Plugin) (*localtree.Tree, error) {
	abs, shown := p.LocalDir(pl)
	t, err := localtree.Read(p.Dir, abs, shown)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", pl.Name, err)
	}
	return t, nil
}
