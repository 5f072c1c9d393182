package lockfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BumpLogLimit bounds the commit titles listed per bumped plugin.
const BumpLogLimit = 50

// Bumped is what BumpAll did: each plugin's bump, the base's (nil when not asked), the lock
// resolved with them, and whether graft.lock was written (false when its bytes are unchanged).
type Bumped struct {
	Plugins []*Bump
	Base    *BaseBump
	Lock    *Lock
	Written bool
}

// Moved reports whether the base or a plugin moved.
func (b *Bumped) Moved() bool {
	moved := b.Base != nil && b.Base.Moved()
	for _, pb := range b.Plugins {
		moved = moved || pb.Moved()
	}
	return moved
}

// BumpAll moves the named plugins (and the base, for BaseName) to their newest version: it
// plans every bump (asking each repository and registry), edits the refs in memory, resolves
// the lock with them, lists the commits in between, and only then writes the plugin.toml
// files, graft.toml and graft.lock. A failure before the writes changes nothing; a failed lock
// write puts the edited files back.
func (p *Project) BumpAll(ctx context.Context, names []string, opts ...ResolveOption) (*Bumped, error) {
	r := &Bumped{Plugins: make([]*Bump, 0, len(names))}
	old := map[string][]byte{}
	var oldSite []byte // graft.toml before a base bump edited it
	for _, name := range names {
		if name == BaseName {
			var err error
			if r.Base, oldSite, err = p.applyBaseBump(ctx, opts); err != nil {
				return nil, err
			}
			continue
		}
		b, err := p.PlanBump(ctx, name, opts...)
		if err != nil {
			return nil, err
		}
		if b.NewRef != b.OldRef {
			old[name] = p.PluginData(name)
			if err := p.ApplyBump(b); err != nil {
				return nil, err
			}
		}
		r.Plugins = append(r.Plugins, b)
	}
	lock, err := p.Resolve(ctx, append(opts, WithUpdate(names...))...)
	if err != nil {
		return nil, err
	}
	r.Lock = lock
	if r.Base != nil {
		r.Base.NewDigest = lock.Base.Digest
	}
	for _, b := range r.Plugins {
		p.logBump(ctx, b, lock, opts)
	}
	if r.Written, err = p.writeBump(lock, old, oldSite); err != nil {
		return nil, err
	}
	return r, nil
}

// applyBaseBump plans the base's bump and edits graft.toml in memory; oldSite is graft.toml
// before (nil when the base keeps its ref).
func (p *Project) applyBaseBump(ctx context.Context, opts []ResolveOption) (*BaseBump, []byte, error) {
	base, err := p.PlanBaseBump(ctx, opts...)
	if err != nil || base.NewRef == base.OldRef {
		return base, nil, err
	}
	oldSite := p.SiteData()
	if err := p.SetBase(base.NewRef); err != nil {
		return nil, nil, err
	}
	return base, oldSite, nil
}

// logBump sets b's new commit to what lock pins (should the tag have moved meanwhile) and
// lists a git plugin's commits in between; a failed listing is recorded, not returned.
func (p *Project) logBump(ctx context.Context, b *Bump, lock *Lock, opts []ResolveOption) {
	git := true
	for _, pk := range lock.Plugins {
		if pk.Name == b.Plugin {
			b.NewCommit = pk.Pin()
			git = pk.IsGit()
		}
	}
	if b.NewCommit == b.OldCommit || !git {
		return
	}
	h, err := p.Log(ctx, b.Plugin, b.OldCommit, b.NewCommit, BumpLogLimit, opts...)
	if err != nil {
		b.HistoryError = err.Error()
	}
	b.History = h
}

// writeBump writes the edited plugin.toml files and graft.toml (oldSite is nil when the base
// did not move), then graft.lock; when the lock cannot be written the edited files get their
// old content back.
func (p *Project) writeBump(lock *Lock, old map[string][]byte, oldSite []byte) (bool, error) {
	var done []string
	siteDone := false
	restore := func() {
		for _, name := range done {
			_ = p.WritePluginFile(name, old[name])
		}
		if siteDone {
			_ = p.WriteSiteFile(oldSite)
		}
	}
	if oldSite != nil {
		if err := p.WriteSiteFile(p.SiteData()); err != nil {
			return false, err
		}
		siteDone = true
	}
	for name := range old {
		if err := p.WritePluginFile(name, p.PluginData(name)); err != nil {
			restore()
			return false, err
		}
		done = append(done, name)
	}
	written, err := WriteLockIfChanged(filepath.Join(p.Dir, LockFile), lock)
	if err != nil {
		restore()
		return false, err
	}
	return written, nil
}

// WriteLockIfChanged writes the lock at path only when its bytes differ, so an unchanged lock
// keeps its file untouched; it reports whether it wrote.
func WriteLockIfChanged(path string, lock *Lock) (bool, error) {
	data, err := Marshal(lock)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return true, WriteLock(path, lock)
}
