package lockfile

import (
	"fmt"

	"github.com/graft-build/graft/internal/tomldecode"
)

// Mismatch is a value graft.lock records for a plugin that its plugin.toml contradicts while
// the plugin.toml digest still matches: the lock was edited by hand (say, git pointed at
// another repository). graft never builds or checks against such a lock.
type Mismatch struct {
	Plugin string
	Key    string // git, ref, kind, path or local
	Locked string // the value in graft.lock
	Want   string // what plugin.toml says (for kind: what its ref names)
	Ref    string // for kind: plugin.toml's ref
	Why    string // for commit: what the repository says about the locked commit, when it was asked
	index  int    // the [[plugin]] entry in graft.lock
}

// String is the one-line report of m.
func (m Mismatch) String() string {
	want := fmt.Sprintf("%q in plugins/%s/plugin.toml", m.Want, m.Plugin)
	switch {
	case m.Why != "":
		return fmt.Sprintf("plugin %s: %s %s in graft.lock: %s; %s", m.Plugin, m.Key, m.Locked, m.Why, damaged)
	case m.Key == "commit":
		want = fmt.Sprintf("plugins/%s/plugin.toml pins commit %q", m.Plugin, m.Want)
	case m.Key == "kind" && (m.Want == KindLocal || m.Want == KindURL || m.Want == KindMaven || m.Want == KindOCI):
		want = fmt.Sprintf("plugins/%s/plugin.toml has a %s source", m.Plugin, m.Want)
	case m.Key == "kind":
		want = fmt.Sprintf("ref %q of plugins/%s/plugin.toml names a %s", m.Ref, m.Plugin, m.Want)
	}
	return fmt.Sprintf("plugin %s: %s is %q in graft.lock but %s; %s", m.Plugin, m.Key, m.Locked, want, damaged)
}

// Mismatches compares each locked plugin whose plugin.toml is unchanged since locking with
// that plugin.toml: git, ref and path must be equal, and kind must be one the ref can name
// (a full SHA is a commit; refs/tags/... a tag; any other name a branch or a tag). It needs
// no network. Entries of changed or removed plugins are staleness, reported elsewhere.
func (p *Project) Mismatches() []Mismatch {
	if p.Lock == nil {
		return nil
	}
	var out []Mismatch
	for i, pk := range p.Lock.Plugins {
		pl := p.Plugin(pk.Name)
		if pl == nil || pk.Definition != p.PluginDigest(pl.Name) {
			continue
		}
		src, err := p.lockedSource(*pl)
		if err != nil {
			continue // a base version graft.lock lacks: staleness, reported by CheckFresh
		}
		for _, m := range p.mismatches(*pl, src, pk) {
			m.index = i
			out = append(out, m)
		}
	}
	return out
}

// refKinds is what kinds of ref a plugin.toml ref can resolve to (see Lookup).
func refKinds(ref string) map[string]bool {
	if fullSHARE.MatchString(ref) {
		return map[string]bool{KindCommit: true}
	}
	kinds := map[string]bool{}
	for _, c := range refCandidates(ref, "") {
		kinds[c.kind] = true
	}
	return kinds
}

func kindList(kinds map[string]bool) string {
	switch {
	case kinds[KindCommit]:
		return KindCommit
	case kinds[KindTag] && kinds[KindBranch]:
		return "branch or tag"
	case kinds[KindTag]:
		return KindTag
	}
	return KindBranch
}

// mismatchErrors are ms as bad input at their lines of graft.lock.
func (p *Project) mismatchErrors(ms []Mismatch) error {
	var errs tomldecode.Errors
	for _, m := range ms {
		errs = append(errs, &tomldecode.Error{File: p.shownPath(LockFile), Line: p.lockLine(m.index, m.Key),
			Key: "plugin." + m.Key, Msg: m.String()})
	}
	return errs.Err()
}

// lockLine is the line of key in the index'th [[plugin]] entry of graft.lock.
func (p *Project) lockLine(index int, key string) int {
	return entryLine(p.lockData, entryKey{"plugin", index, key})
}

// lockIndex is the index of plugin name's entry in graft.lock, -1 when it has none.
func (p *Project) lockIndex(name string) int {
	if p.Lock != nil {
		for i, pk := range p.Lock.Plugins {
			if pk.Name == name {
				return i
			}
		}
	}
	return -1
}

// EditedCommit is the error for a locked commit that the repository contradicts (found while
// fetching it): bad input at the commit's line of graft.lock, like every other edited key.
// why says what the repository holds instead.
func (p *Project) EditedCommit(name, why string) error {
	m := Mismatch{Plugin: name, Key: "commit", Why: why, index: p.lockIndex(name)}
	if pk := p.PluginLock(name); pk != nil {
		m.Locked = pk.Commit
	}
	return p.mismatchErrors([]Mismatch{m})
}
