package lockfile

import (
	"context"
	"errors"
	"fmt"

	"github.com/graft-build/graft/lockfile/gitremote"
)

// Drift is one way graft.lock no longer matches the definitions or the remotes.
type Drift struct {
	Plugin string `json:"plugin,omitempty"` // empty for the base image and graft.toml
	What   string `json:"what"`             // definition-changed, added, removed, branch-moved, tag-moved, ref-deleted, base-moved, site-changed, no-lock, lock-edited, local-changed, content-changed
	Key    string `json:"key,omitempty"`    // lock-edited: the locked value that differs (git, ref, kind, path, commit, url, …)
	Line   int    `json:"line,omitempty"`   // lock-edited: the line of Key in graft.lock
	Ref    string `json:"ref,omitempty"`
	Old    string `json:"old,omitempty"` // locked commit (or digest)
	New    string `json:"new,omitempty"` // current commit (or digest); empty when gone
	Why    string `json:"why,omitempty"` // lock-edited commit: what the repository holds instead; moved: the locked commit is gone
}

// String is the one-line report of d. Definition changes point at `graft lock --changed`
// (it resolves what changed and keeps the rest); remote moves at `--update` of the one thing
// that moved.
func (d Drift) String() string {
	subject := "plugin " + d.Plugin
	const changed = "run `graft lock --changed`"
	switch d.What {
	case "no-lock":
		return "graft.lock: not found; run `graft lock`"
	case "site-changed":
		return "graft.toml: changed since graft.lock was written; " + changed
	case "base-moved":
		return fmt.Sprintf("base %s: the tag now names %s, not the locked %s (the image was rebuilt or re-pushed under the same tag); run `graft lock --update %s`",
			d.Ref, d.New, d.Old, BaseName)
	case "added":
		return fmt.Sprintf("%s: not in graft.lock (ref %s now at %s); %s", subject, d.Ref, orNone(d.New), changed)
	case "removed":
		return fmt.Sprintf("%s: in graft.lock (at %s) but plugins/%s/plugin.toml is gone; %s", subject, d.Old, d.Plugin, changed)
	case "definition-changed":
		if d.Old == d.New {
			return fmt.Sprintf("%s: plugin.toml changed since graft.lock was written (ref %s, still at %s); %s", subject, d.Ref, d.Old, changed)
		}
		return fmt.Sprintf("%s: plugin.toml changed since graft.lock was written (ref %s): %s -> %s; %s", subject, d.Ref, d.Old, orNone(d.New), changed)
	case "lock-edited":
		msg := Mismatch{Plugin: d.Plugin, Key: d.Key, Locked: d.Old, Want: d.New, Ref: d.Ref, Why: d.Why}.String()
		if d.Line > 0 {
			msg = fmt.Sprintf("%s:%d: plugin.%s: %s", LockFile, d.Line, d.Key, msg)
		}
		return msg
	case "local-changed":
		return fmt.Sprintf("%s: folder %s changed since graft.lock was written: tree %s -> %s; %s and commit graft.lock with the folder",
			subject, d.Ref, d.Old, d.New, changed)
	case "content-changed":
		return fmt.Sprintf("%s: %s now sends other content: %s -> %s; run `graft lock --update %s` once you trust it", subject, d.Ref, d.Old, d.New, d.Plugin)
	case "ref-deleted":
		return fmt.Sprintf("%s: %s no longer exists (locked at %s); pick another ref and %s", subject, d.Ref, d.Old, changed)
	case "tag-moved":
		return fmt.Sprintf("%s: tag %s moved: %s -> %s%s: the release was re-tagged; review what %s holds before taking it with `graft lock --update %s`",
			subject, d.Ref, d.Old, d.New, d.gone(), d.New, d.Plugin)
	}
	// branch-moved
	return fmt.Sprintf("%s: branch %s moved: %s -> %s%s; run `graft lock --update %s`", subject, d.Ref, d.Old, d.New, d.gone(), d.Plugin)
}

// gone is a moved ref's note that the locked commit is no longer in the repository ("" when
// it is, or the server did not say).
func (d Drift) gone() string {
	if d.Why == "" {
		return ""
	}
	return " (" + d.Why + ")"
}

func orNone(s string) string {
	if s == "" {
		return "(unresolved)"
	}
	return s
}

// Check compares graft.lock with the definitions (offline) and with the remotes: a branch or
// tag that moved or disappeared, a base tag that now names another digest. It writes nothing.
// Plugins pinned to a full SHA cannot drift remotely. Drifts come sorted by plugin.
func (p *Project) Check(ctx context.Context, opts ...ResolveOption) ([]Drift, error) {
	if p.lockErr != nil {
		return nil, p.lockErr
	}
	if p.Lock == nil {
		return []Drift{{What: "no-lock"}}, nil
	}
	cfg := newResolveConfig(opts)
	store, done, err := cfg.store()
	if err != nil {
		return nil, err
	}
	defer done()
	cfg.artifacts = store
	edited := map[string][]Drift{}
	for _, m := range p.Mismatches() {
		edited[m.Plugin] = append(edited[m.Plugin], Drift{Plugin: m.Plugin, What: "lock-edited", Key: m.Key,
			Line: p.lockLine(m.index, m.Key), Ref: m.Ref, Old: m.Locked, New: m.Want})
	}
	found := make([][]Drift, len(p.Plugins)+1)
	err = forEach(ctx, cfg.jobs, len(p.Plugins)+1, func(ctx context.Context, i int) error {
		var d []Drift
		var err error
		switch {
		case i == len(p.Plugins):
			d, err = p.checkBase(ctx, cfg)
		case edited[p.Plugins[i].Name] != nil:
			d = edited[p.Plugins[i].Name] // the locked ref is not what to ask the remote about
		default:
			err = p.bounded(ctx, cfg, p.Plugins[i], func(ctx context.Context) (err error) {
				d, err = p.checkPlugin(ctx, cfg, p.Plugins[i])
				return err
			})
		}
		found[i] = d // each goroutine owns its slot
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Drift
	for _, d := range found {
		out = append(out, d...)
	}
	for _, name := range sortedNames(p.Lock) {
		if p.Plugin(name) == nil {
			out = append(out, Drift{Plugin: name, What: "removed", Old: p.PluginLock(name).Pin()})
		}
	}
	if len(out) == 0 && p.Lock.Definitions != p.DefinitionsDigest() {
		out = append(out, Drift{What: "site-changed"})
	}
	return out, nil
}

func (p *Project) checkBase(ctx context.Context, cfg *resolveConfig) ([]Drift, error) {
	if p.Lock.Base.Ref != p.Site.Base {
		return []Drift{{What: "site-changed"}}, nil
	}
	digest, err := p.baseDigest(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if digest != p.Lock.Base.Digest {
		return []Drift{{What: "base-moved", Ref: p.Site.Base, Old: p.Lock.Base.Digest, New: digest}}, nil
	}
	return nil, nil
}

func (p *Project) checkPlugin(ctx context.Context, cfg *resolveConfig, pl Plugin) ([]Drift, error) {
	old := p.PluginLock(pl.Name)
	switch pl.Source.Type() {
	case TypeLocal:
		return p.checkLocal(pl, old)
	case TypeURL, TypeMaven, TypeOCI:
		return p.checkArtifact(ctx, cfg, pl, old)
	}
	if old != nil && old.Definition == p.PluginDigest(pl.Name) && old.Kind == KindCommit {
		return nil, nil // a full SHA never moves; nothing to ask the server
	}
	src, err := p.lockedSource(pl)
	if err != nil {
		return nil, err
	}
	r, err := p.open(ctx, cfg, pl)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	_, now, _ := Lookup(r, src.Ref)
	switch {
	case old == nil:
		return []Drift{{Plugin: pl.Name, What: "added", Ref: src.Ref, New: now}}, nil
	case old.Definition != p.PluginDigest(pl.Name):
		return []Drift{{Plugin: pl.Name, What: "definition-changed", Ref: src.Ref, Old: old.Pin(), New: now}}, nil
	}
	// Look the ref up as what it was when locked: a branch stays a branch.
	var cur string
	found := false
	for _, c := range refCandidates(old.Ref, old.Kind) {
		if x, has := r.Ref(c.name); has {
			cur, found = x.Commit, true
			break
		}
	}
	if kind, _, ok := Lookup(r, old.Ref); !found && ok {
		// The ref exists, as another kind than the lock says: a hand edit, or the branch
		// (tag) was replaced by a tag (branch) of the same name.
		return []Drift{{Plugin: pl.Name, What: "lock-edited", Key: "kind", Line: p.lockLine(p.lockIndex(pl.Name), "kind"),
			Ref: old.Ref, Old: old.Kind, New: kind}}, nil
	}
	switch {
	case !found:
		return []Drift{{Plugin: pl.Name, What: "ref-deleted", Ref: old.Kind + " " + old.Ref, Old: old.Commit}}, nil
	case cur != old.Commit:
		why, edited := lockedCommit(ctx, r, old)
		if edited {
			return []Drift{{Plugin: pl.Name, What: "lock-edited", Key: "commit", Line: p.lockLine(p.lockIndex(pl.Name), "commit"),
				Ref: old.Ref, Old: old.Commit, New: cur, Why: why}}, nil
		}
		return []Drift{{Plugin: pl.Name, What: old.Kind + "-moved", Ref: old.Ref, Old: old.Commit, New: cur, Why: why}}, nil
	}
	return nil, nil
}

// lockedCommit asks the repository about old's commit once its ref names another. A moved
// branch or tag left behind a commit with the locked title and tree; a commit with another
// title or tree was edited into graft.lock (edited: true, why says what differs). A commit the
// repository does not have is either (a history rewritten, or an edit): why says so, edited is
// false. A server that hands out only what refs point at cannot be asked: "", false.
func lockedCommit(ctx context.Context, r *gitremote.Remote, old *PluginLock) (why string, edited bool) {
	c, err := r.Fetch(ctx, old.Commit, old.Path)
	switch {
	case errors.Is(err, gitremote.ErrPathNotFound):
		return fmt.Sprintf("the repository has that commit, but path %q is not a folder in it", old.Path), true
	case gitremote.Refused(err) && r.ServesReachable():
		return fmt.Sprintf("%s is no longer on any branch or tag: the history was rewritten, or graft.lock edited", old.Commit), false
	case err != nil:
		return "", false
	case c.Tree != old.Tree:
		return fmt.Sprintf("that commit holds tree %s at %q, graft.lock says tree %s", c.Tree, "/"+old.Path, old.Tree), true
	case c.Title != old.Title:
		return fmt.Sprintf("that commit's title is %q, graft.lock says %q", c.Title, old.Title), true
	}
	return "", false
}

// checkLocal compares a local plugin's folder, as it is in the working tree, with the lock.
func (p *Project) checkLocal(pl Plugin, old *PluginLock) ([]Drift, error) {
	t, err := p.ReadLocal(pl)
	if err != nil {
		return nil, err
	}
	_, shown := p.LocalDir(pl)
	switch {
	case old == nil:
		return []Drift{{Plugin: pl.Name, What: "added", Ref: "local " + shown, New: t.Hash}}, nil
	case old.Definition != p.PluginDigest(pl.Name):
		return []Drift{{Plugin: pl.Name, What: "definition-changed", Ref: "local " + shown, Old: old.Tree, New: t.Hash}}, nil
	case old.Tree != t.Hash:
		return []Drift{{Plugin: pl.Name, What: "local-changed", Ref: shown, Old: old.Tree, New: t.Hash}}, nil
	}
	return nil, nil
}
