package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/lockfile"
)

// bumpLogLimit bounds the commit titles listed per bumped plugin.
const bumpLogLimit = 50

// runBump moves plugins (and the base) to their newest version: it plans every bump (asking
// each repository and registry), edits the refs in memory, resolves the lock with them, lists
// the commits in between, and only then writes the plugin.toml files, graft.toml and
// graft.lock. A failure before the writes changes nothing; a failed lock write puts the
// edited files back.
func runBump(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	ctx := cmd.Context()
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	opts, err := resolveOptions(o.jobs, o.timeout)
	if err != nil {
		return err
	}
	bumps := make([]*lockfile.Bump, 0, len(o.bump))
	old := map[string][]byte{}
	var base *lockfile.BaseBump
	var oldSite []byte // graft.toml before a base bump edited it
	for _, name := range o.bump {
		if name == lockfile.BaseName {
			if base, err = p.PlanBaseBump(ctx, opts...); err != nil {
				return err
			}
			if base.NewRef != base.OldRef {
				oldSite = p.SiteData()
				if err := p.SetBase(base.NewRef); err != nil {
					return err
				}
			}
			continue
		}
		b, err := p.PlanBump(ctx, name, opts...)
		if err != nil {
			return err
		}
		if b.NewRef != b.OldRef {
			old[name] = p.PluginData(name)
			if err := p.ApplyBump(b); err != nil {
				return err
			}
		}
		bumps = append(bumps, b)
	}
	lock, err := p.Resolve(ctx, append(opts, lockfile.WithUpdate(o.bump...))...)
	if err != nil {
		return err
	}
	if base != nil {
		base.NewDigest = lock.Base.Digest
	}
	for _, b := range bumps {
		git := true
		for _, pk := range lock.Plugins {
			if pk.Name == b.Plugin {
				b.NewCommit = pk.Pin() // what the lock now pins, should the tag have moved meanwhile
				git = pk.IsGit()
			}
		}
		if b.NewCommit != b.OldCommit && git {
			h, err := p.Log(ctx, b.Plugin, b.OldCommit, b.NewCommit, bumpLogLimit, opts...)
			if err != nil {
				b.HistoryError = err.Error()
			}
			b.History = h
		}
	}
	written, err := writeBump(p, lock, old, oldSite)
	if err != nil {
		return err
	}
	if o.json {
		rep := lockReport(p, lock, filepath.Join(p.Dir, lockfile.LockFile), written)
		doc := map[string]any{"bumps": bumps, "lock": rep}
		if base != nil {
			doc["base"] = base
		}
		return writeJSON(g.stdout, doc)
	}
	moved := base != nil && base.Moved()
	if base != nil {
		printBaseBump(g.stdout, base)
	}
	for _, b := range bumps {
		printBump(g.stdout, b)
		moved = moved || b.Moved()
	}
	// Nothing moved: the "nothing to bump" lines say it all; the listing would only repeat the lock.
	if moved || written {
		printLock(g.stdout, p, lock, written)
	}
	return nil
}

// writeBump writes the edited plugin.toml files and graft.toml (oldSite is nil when the base
// did not move), then graft.lock; when the lock cannot be written the edited files get their
// old content back.
func writeBump(p *lockfile.Project, lock *lockfile.Lock, old map[string][]byte, oldSite []byte) (bool, error) {
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
	written, err := writeIfChanged(filepath.Join(p.Dir, lockfile.LockFile), lock)
	if err != nil {
		restore()
		return false, err
	}
	return written, nil
}

func printBaseBump(w io.Writer, b *lockfile.BaseBump) {
	for _, s := range b.Skipped {
		fmt.Fprintf(w, "base: not moving to %s%s\n", s.Tag, blockers(s.BlockedBy))
	}
	switch {
	case !b.Moved():
		fmt.Fprintf(w, "base: %s at %s is the newest tag; nothing to bump\n", b.OldRef, shortDigest(b.OldDigest))
	case b.NewRef == b.OldRef:
		fmt.Fprintf(w, "base: %s is the newest tag; it was rebuilt: %s -> %s\n", b.OldRef, shortDigest(b.OldDigest), shortDigest(b.NewDigest))
	default:
		fmt.Fprintf(w, "base: %s -> %s (%s -> %s), wrote %s\n", b.OldRef, b.NewRef, shortDigest(b.OldDigest), shortDigest(b.NewDigest), lockfile.SiteFile)
	}
}

func printBump(w io.Writer, b *lockfile.Bump) {
	if !b.Moved() {
		fmt.Fprintf(w, "%s: %s %s at %s is the newest; nothing to bump\n", b.Plugin, b.Kind, b.OldRef, short(b.OldCommit))
		return
	}
	ref := b.OldRef
	if b.NewRef != b.OldRef {
		ref += " -> " + b.NewRef
		what := map[string]string{lockfile.KindURL: "version", lockfile.KindMaven: "version", lockfile.KindOCI: "tag"}[b.Kind]
		if what == "" {
			what = "ref"
		}
		fmt.Fprintf(w, "%s: %s %s (%s -> %s), wrote plugins/%s/plugin.toml\n", b.Plugin, what, ref, short(b.OldCommit), short(b.NewCommit), b.Plugin)
	} else {
		fmt.Fprintf(w, "%s: %s %s (%s -> %s)\n", b.Plugin, b.Kind, ref, short(b.OldCommit), short(b.NewCommit))
	}
	switch h := b.History; {
	case b.HistoryError != "":
		fmt.Fprintf(w, "  (commits in between not listed: %s)\n", b.HistoryError)
	case h != nil:
		for _, c := range h.Commits {
			fmt.Fprintf(w, "  - %s %s\n", short(c.Commit), c.Title)
		}
		if h.Truncated {
			fmt.Fprintf(w, "  - ... (more commits; the first %d are listed)\n", bumpLogLimit)
		}
		if h.Unrelated {
			fmt.Fprintf(w, "  (%s is not in the history of %s: the history was rewritten or the tag moved to another branch)\n",
				short(b.OldCommit), short(b.NewCommit))
		}
	}
}
