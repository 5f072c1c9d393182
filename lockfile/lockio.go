package lockfile

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/graft-build/graft/internal/atomicfile"
	"github.com/graft-build/graft/internal/tomldecode"
)

// LockVersion is the graft.lock format this graft writes and reads.
const LockVersion = 1

const lockHeader = "# graft.lock: written by `graft lock`; do not edit. Commit it beside graft.toml.\n\n"

// ReadLock reads and checks graft.lock. A missing file gives an error matching fs.ErrNotExist.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseLock(path, data)
}

// ParseLock decodes graft.lock content; file names it in messages.
func ParseLock(file string, data []byte) (*Lock, error) {
	var l Lock
	if err := tomldecode.Decode(file, data, &l); err != nil {
		return nil, withHint(err)
	}
	p := &problems{file: file, data: data}
	if l.Version != LockVersion {
		p.add("version", "", "format version %d is not supported by this graft (it reads %d); run `graft lock` to rewrite the lock", l.Version, LockVersion)
	}
	if !digestRE.MatchString(l.Base.Digest) {
		p.add("base.digest", "base", "%q is not a sha256 digest; %s", l.Base.Digest, damaged)
	}
	names := map[string]bool{}
	for i, pk := range l.Plugins {
		checkLockEntry(p, i, pk, names)
	}
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return &l, nil
}

// damaged ends messages about values graft lock never writes.
const damaged = "graft.lock was edited by hand or is damaged: run `graft lock` to rewrite it"

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// checkLockEntry checks the values graft build and graft outdated rely on in one [[plugin]].
func checkLockEntry(p *problems, i int, pk PluginLock, names map[string]bool) {
	at := func(key string) entryKey { return entryKey{"plugin", i, key} }
	switch {
	case pk.Name == "":
		p.addAt(at("name"), "entry #%d has no name; %s", i+1, damaged)
	case names[pk.Name]:
		p.addAt(at("name"), "plugin %q is locked twice; %s", pk.Name, damaged)
	}
	names[pk.Name] = true
	switch {
	case pk.Kind == KindLocal && pk.Local == "":
		p.addAt(at("kind"), "plugin %q is local but has no local folder; %s", pk.Name, damaged)
	case (pk.Kind == KindLocal || pk.IsArtifact()) && pk.Commit != "":
		p.addAt(at("commit"), "a %s plugin has no commit; %s", pk.Kind, damaged)
	case pk.Kind != KindLocal && !pk.IsArtifact() && !fullSHARE.MatchString(pk.Commit):
		p.addAt(at("commit"), "%q is not a full 40-character commit SHA; %s", pk.Commit, damaged)
	case pk.IsArtifact() && !digestRE.MatchString(pk.Digest):
		p.addAt(at("digest"), "%q is not a sha256 digest; %s", pk.Digest, damaged)
	case pk.Dest != "" && (!path.IsAbs(pk.Dest) || path.Clean(pk.Dest) != pk.Dest || pk.Dest == "/"):
		p.addAt(at("dest"), "%q is not a clean absolute path; %s", pk.Dest, damaged)
	}
	if !fullSHARE.MatchString(pk.Tree) {
		p.addAt(at("tree"), "%q is not a full 40-character tree SHA; %s", pk.Tree, damaged)
	}
	switch pk.Kind {
	case KindBranch, KindTag, KindCommit, KindLocal, KindURL, KindMaven, KindOCI:
	default:
		p.addAt(at("kind"), "%q is not branch, tag, commit, local, url, maven or oci; %s", pk.Kind, damaged)
	}
}

// withHint replaces the decoder's advice (for files people write) with the way out for a
// generated file: regenerate it.
func withHint(err error) error {
	add := func(e *tomldecode.Error) {
		what, _, _ := strings.Cut(e.Msg, "; ")
		e.Msg = what + "; graft.lock is generated: delete it and run `graft lock`"
	}
	switch e := err.(type) {
	case *tomldecode.Error:
		add(e)
	case tomldecode.Errors:
		for _, x := range e {
			add(x)
		}
	}
	return err
}

// Marshal encodes l deterministically: plugins sorted by name, tags sorted, fixed field order,
// no timestamps. The same lock always gives the same bytes.
func Marshal(l *Lock) ([]byte, error) {
	c := *l
	c.Plugins = slices.Clone(l.Plugins)
	sort.Slice(c.Plugins, func(i, j int) bool { return c.Plugins[i].Name < c.Plugins[j].Name })
	for i := range c.Plugins {
		c.Plugins[i].Tags = slices.Clone(c.Plugins[i].Tags)
		slices.Sort(c.Plugins[i].Tags)
	}
	var buf bytes.Buffer
	buf.WriteString(lockHeader)
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	enc.SetArraysMultiline(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("encode graft.lock: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteLock writes l to path atomically: a temporary file in the same folder, synced, then
// renamed over path, so a reader or a crash never sees half a lock.
func WriteLock(path string, l *Lock) error {
	data, err := Marshal(l)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}
