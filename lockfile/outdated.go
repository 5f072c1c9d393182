package lockfile

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/graft-build/graft/lockfile/gitremote"
)

// Outdated is what could be bumped for one locked plugin.
type Outdated struct {
	Plugin    string   `json:"plugin"`
	Ref       string   `json:"ref"`
	Kind      string   `json:"kind"`
	Locked    string   `json:"locked"`               // locked commit
	NewerTags []string `json:"newer_tags,omitempty"` // version tags above the locked version, ascending
	Head      string   `json:"head,omitempty"`       // branch: its head now, when it moved (oci: the tag's digest now)
	// Moved is the commit a locked tag names now, when that is not the locked commit: the
	// release was re-tagged, and what it holds deserves review before it is taken.
	Moved string `json:"moved,omitempty"`
	// Gone: the locked branch or tag no longer exists in the repository.
	Gone bool `json:"gone,omitempty"`
	// NewerVersions (url, maven, oci): versions above the locked one, ascending.
	NewerVersions []string `json:"newer_versions,omitempty"`
	// Unlisted says why the plugin's versions cannot be listed (a url without {version} and
	// [source.versions], an oci reference pinned by digest).
	Unlisted string `json:"unlisted,omitempty"`
	// NotLocked: the plugin has a plugin.toml but no entry in graft.lock yet (nothing else is
	// set; its repository is not contacted).
	NotLocked bool `json:"not_locked,omitempty"`
	// Removed: graft.lock still pins the plugin but its plugins/NAME/plugin.toml is gone.
	Removed bool `json:"removed,omitempty"`
}

// Current reports whether nothing newer was found.
func (o Outdated) Current() bool {
	return len(o.NewerTags) == 0 && len(o.NewerVersions) == 0 && o.Head == "" && o.Moved == "" && !o.Gone && !o.NotLocked && !o.Removed
}

// Outdated lists, per plugin in name order, the ones not locked yet, the locked ones whose
// plugin.toml is gone and, per locked plugin, newer version tags than the locked version (the ref itself
// when it is a version, else the highest version tag at the locked commit) and, for branches,
// the new head; for tags, whether the tag was moved to another commit or deleted.
// Pre-releases are listed only when the locked version is one.
func (p *Project) Outdated(ctx context.Context, opts ...ResolveOption) ([]Outdated, error) {
	if err := p.needLock(); err != nil {
		return nil, err
	}
	cfg := newResolveConfig(opts)
	store, done, err := cfg.store()
	if err != nil {
		return nil, err
	}
	defer done()
	cfg.artifacts = store
	out := make([]Outdated, len(p.Plugins))
	var locked []int // indexes into p.Plugins and out
	for i, pl := range p.Plugins {
		pk := p.PluginLock(pl.Name)
		switch {
		case pk == nil:
			out[i] = Outdated{Plugin: pl.Name, Ref: pl.Source.Ref, NotLocked: true}
			continue
		case pl.Source.Local != "" || pk.Kind == KindLocal:
			// Kept in the site repository: nothing upstream to be behind (lock --check
			// reports a changed folder).
			out[i] = Outdated{Plugin: pl.Name, Ref: pk.Local, Kind: pk.Kind, Locked: pk.Tree}
			continue
		}
		locked = append(locked, i)
	}
	err = forEach(ctx, cfg.jobs, len(locked), func(ctx context.Context, j int) error {
		i := locked[j]
		return p.bounded(ctx, cfg, p.Plugins[i], func(ctx context.Context) error {
			o, err := p.outdatedPlugin(ctx, cfg, p.Plugins[i])
			if err == nil {
				out[i] = *o
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	for _, pk := range p.Lock.Plugins {
		if p.Plugin(pk.Name) == nil {
			out = append(out, Outdated{Plugin: pk.Name, Ref: pk.Ref, Kind: pk.Kind, Locked: pk.Pin(), Removed: true})
		}
	}
	slices.SortStableFunc(out, func(a, b Outdated) int { return strings.Compare(a.Plugin, b.Plugin) })
	return out, nil
}

func (p *Project) outdatedPlugin(ctx context.Context, cfg *resolveConfig, pl Plugin) (*Outdated, error) {
	old := p.PluginLock(pl.Name)
	if old.IsArtifact() {
		return p.outdatedArtifact(ctx, cfg, pl, old)
	}
	r, err := p.open(ctx, cfg, pl)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	o := &Outdated{Plugin: pl.Name, Ref: old.Ref, Kind: old.Kind, Locked: old.Commit}
	if old.Kind == KindBranch || old.Kind == KindTag {
		// Look the ref up as what it was when locked: a branch stays a branch.
		o.Gone = true
		for _, c := range refCandidates(old.Ref, old.Kind) {
			x, ok := r.Ref(c.name)
			switch {
			case !ok:
				continue
			case x.Commit != old.Commit && old.Kind == KindBranch:
				o.Head = x.Commit
			case x.Commit != old.Commit:
				o.Moved = x.Commit
			}
			o.Gone = false
			break
		}
	}
	if base, ok := lockedVersion(old); ok {
		o.NewerTags = newerTags(r, base)
	}
	return o, nil
}

// lockedVersion is the version a plugin is at: its tag ref, else its highest version tag.
func lockedVersion(pk *PluginLock) (version, bool) {
	if pk.Kind == KindTag {
		if v, ok := parseVersion(strings.TrimPrefix(pk.Ref, "refs/tags/")); ok {
			return v, true
		}
	}
	var best version
	found := false
	for _, t := range pk.Tags {
		if v, ok := parseVersion(t); ok && (!found || v.compare(best) > 0) {
			best, found = v, true
		}
	}
	return best, found
}

func newerTags(r *gitremote.Remote, base version) []string {
	var tags []string
	for _, ref := range r.Refs() {
		if name, ok := strings.CutPrefix(ref.Name, "refs/tags/"); ok {
			tags = append(tags, name)
		}
	}
	return newerVersions(tags, base)
}

// newerVersions are the names among names that are versions above base, ascending;
// pre-releases only when base is one.
func newerVersions(names []string, base version) []string {
	return ascending(names, func(name string) (version, bool) {
		v, ok := parseVersion(name)
		return v, ok && v.date == base.date && v.compare(base) > 0 && (v.pre == "" || base.pre != "")
	})
}

// ascending keeps the tags keep accepts and sorts them by the version keep reads (ties by name).
func ascending(tags []string, keep func(name string) (version, bool)) []string {
	type tv struct {
		name string
		v    version
	}
	var found []tv
	for _, name := range tags {
		if v, ok := keep(name); ok {
			found = append(found, tv{name, v})
		}
	}
	slices.SortFunc(found, func(a, b tv) int {
		if c := a.v.compare(b.v); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.name
	}
	return out
}

// version is a dotted numeric tag: 2 to maxParts numbers, an optional leading "v" or "V",
// optionally a "-PRE" pre-release and a "+BUILD" suffix (ignored): v1.0, 1.5.5, v2.0.0.1,
// 2024.01.15, v1.0.0-rc.1. Missing trailing numbers count as 0 (v1.1 == v1.1.0). A release
// date written as one number, YYYYMMDD (20180726, as AtlasSystems tags its Aeon plugin), is a
// version too, compared only with other dates: a one-number tag is otherwise no version (v2 is
// often a moving major tag).
type version struct {
	nums []uint64
	pre  string
	date bool // YYYYMMDD
}

// maxParts bounds how many numbers a version tag may have.
const maxParts = 8

// parseVersion reads a tag name as a version; ok is false for any other tag.
func parseVersion(s string) (version, bool) {
	if len(s) > 0 && (s[0] == 'v' || s[0] == 'V') {
		s = s[1:]
	}
	s, _, _ = strings.Cut(s, "+")
	if n, ok := dateTag(s); ok {
		return version{nums: []uint64{n}, date: true}, true
	}
	core, pre, hasPre := strings.Cut(s, "-")
	if hasPre && pre == "" {
		return version{}, false
	}
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > maxParts {
		return version{}, false
	}
	v := version{nums: make([]uint64, len(parts)), pre: pre}
	for i, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return version{}, false
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return version{}, false
		}
		v.nums[i] = n
	}
	return v, true
}

// dateTag reads YYYYMMDD with a plausible year, month and day.
func dateTag(s string) (uint64, bool) {
	if len(s) != 8 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	year, month, day := n/10000, n/100%100, n%100
	return n, year >= 1970 && year < 3000 && month >= 1 && month <= 12 && day >= 1 && day <= 31
}

// compare orders versions: numbers (missing ones are 0), then a release above its
// pre-releases, then pre-release identifiers (numeric ones numerically and below alphanumeric
// ones), as semver does.
func (a version) compare(b version) int {
	for i := range max(len(a.nums), len(b.nums)) {
		x, y := at(a.nums, i), at(b.nums, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return comparePre(strings.Split(a.pre, "."), strings.Split(b.pre, "."))
}

func at(nums []uint64, i int) uint64 {
	if i < len(nums) {
		return nums[i]
	}
	return 0
}

func comparePre(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		an, aErr := strconv.ParseUint(a[i], 10, 64)
		bn, bErr := strconv.ParseUint(b[i], 10, 64)
		switch {
		case aErr == nil && bErr == nil && an != bn:
			if an < bn {
				return -1
			}
			return 1
		case aErr == nil && bErr != nil:
			return -1
		case aErr != nil && bErr == nil:
			return 1
		case a[i] != b[i]:
			return strings.Compare(a[i], b[i])
		}
	}
	return len(a) - len(b)
}
