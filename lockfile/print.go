package lockfile

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Short is a commit, tree or sha256 digest cut to 12 hex digits (sha256: kept).
func Short(sha string) string {
	prefix := ""
	if rest, ok := strings.CutPrefix(sha, "sha256:"); ok {
		prefix, sha = "sha256:", rest
	}
	if len(sha) > 12 {
		return prefix + sha[:12]
	}
	return prefix + sha
}

// ShortDigest is a digest's algorithm and the first 12 hex digits.
func ShortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok {
		return Short(d)
	}
	return algo + ":" + Short(hex)
}

// PrintOutdated writes `graft outdated`: the base's line, then one line per plugin.
func PrintOutdated(w io.Writer, base *BaseOutdated, list []Outdated) {
	fmt.Fprintln(w, base.Line())
	for _, o := range list {
		fmt.Fprintln(w, o.Line())
	}
}

// AllCurrent reports whether neither the base nor any plugin is outdated, moved, not locked
// yet or removed (`graft outdated --exit-code` exits 0).
func AllCurrent(base *BaseOutdated, list []Outdated) bool {
	return base.Current() && !slices.ContainsFunc(list, func(o Outdated) bool { return !o.Current() })
}

// Line is the base's line of `graft outdated`.
func (b BaseOutdated) Line() string {
	if b.NotLocked {
		return fmt.Sprintf("base: %s is not the locked base; run `graft lock --update %s`", b.Ref, BaseName)
	}
	var parts []string
	if b.Digest != "" {
		parts = append(parts, fmt.Sprintf("rebuilt: the tag now names %s (to refresh: graft lock --update %s)", ShortDigest(b.Digest), BaseName))
	}
	if len(b.NewerTags) > 0 {
		tags := make([]string, len(b.NewerTags))
		for i, t := range b.NewerTags {
			tags[i] = t.Tag + blockers(t.BlockedBy) + moves(t.Moves)
		}
		parts = append(parts, fmt.Sprintf("newer tags: %s (to bump: graft lock --bump %s)", strings.Join(tags, ", "), BaseName))
	}
	return fmt.Sprintf("base: %s at %s: %s", b.Ref, ShortDigest(b.Locked), status(parts))
}

// status joins what is new about a plugin or the base, or says it is up to date.
func status(parts []string) string {
	if len(parts) == 0 {
		return "up to date"
	}
	return strings.Join(parts, "; ")
}

// blockers shows the plugins that would block a base upgrade, after the tag.
func blockers(bs []Blocker) string {
	if len(bs) == 0 {
		return ""
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Plugin + " " + b.Reason
	}
	return " (blocked by " + strings.Join(names, ", ") + ")"
}

// moves shows the plugins that would follow a base upgrade to another ref, after the tag.
func moves(ms []Move) string {
	if len(ms) == 0 {
		return ""
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Plugin + " " + m.From + " -> " + m.To
	}
	return " (moves " + strings.Join(out, ", ") + ")"
}

// Line is the plugin's line of `graft outdated`.
func (o Outdated) Line() string {
	if o.NotLocked {
		return fmt.Sprintf("%s: not locked yet; run `graft lock --changed`", o.Plugin)
	}
	if o.Removed {
		return fmt.Sprintf("%s: in graft.lock but plugins/%s/plugin.toml is gone; run `graft lock --changed` to drop it", o.Plugin, o.Plugin)
	}
	if o.Kind == KindLocal {
		return fmt.Sprintf("%s: local %s at tree %s: kept in the site repository (graft lock --check reports changes)", o.Plugin, o.Ref, Short(o.Locked))
	}
	var parts []string
	if o.Unlisted != "" {
		parts = append(parts, "versions not listed ("+o.Unlisted+")")
	}
	if len(o.NewerVersions) > 0 {
		parts = append(parts, fmt.Sprintf("newer versions: %s (to bump: graft lock --bump %s)",
			strings.Join(o.NewerVersions, ", "), o.Plugin))
	}
	if o.Gone {
		parts = append(parts, fmt.Sprintf("%s %s no longer exists; pick another ref in plugins/%s/plugin.toml", o.Kind, o.Ref, o.Plugin))
	}
	if o.Moved != "" {
		parts = append(parts, fmt.Sprintf("tag moved: now at %s, the release was re-tagged (review it, then: graft lock --update %s)", Short(o.Moved), o.Plugin))
	}
	if len(o.NewerTags) > 0 {
		parts = append(parts, fmt.Sprintf("newer tags: %s (to bump: graft lock --bump %s)",
			strings.Join(o.NewerTags, ", "), o.Plugin))
	}
	if o.Head != "" && o.Kind == KindOCI {
		parts = append(parts, fmt.Sprintf("the tag now names %s (to take it: graft lock --update %s)", Short(o.Head), o.Plugin))
	} else if o.Head != "" {
		parts = append(parts, fmt.Sprintf("branch head now %s (to bump: graft lock --update %s)", Short(o.Head), o.Plugin))
	}
	return fmt.Sprintf("%s: %s %s at %s: %s", o.Plugin, o.Kind, o.Ref, Short(o.Locked), status(parts))
}

// Print writes what a base bump did (or why it did nothing), for `graft lock --bump base`.
func (b *BaseBump) Print(w io.Writer) {
	for _, s := range b.Skipped {
		fmt.Fprintf(w, "base: not moving to %s%s\n", s.Tag, blockers(s.BlockedBy))
	}
	switch {
	case !b.Moved():
		fmt.Fprintf(w, "base: %s at %s is the newest tag; nothing to bump\n", b.OldRef, ShortDigest(b.OldDigest))
	case b.NewRef == b.OldRef:
		fmt.Fprintf(w, "base: %s is the newest tag; it was rebuilt: %s -> %s\n", b.OldRef, ShortDigest(b.OldDigest), ShortDigest(b.NewDigest))
	default:
		fmt.Fprintf(w, "base: %s -> %s (%s -> %s), wrote %s\n", b.OldRef, b.NewRef, ShortDigest(b.OldDigest), ShortDigest(b.NewDigest), SiteFile)
	}
}

// Print writes what a plugin's bump did, then the commits in between (at most BumpLogLimit).
func (b *Bump) Print(w io.Writer) {
	if !b.Moved() {
		fmt.Fprintf(w, "%s: %s %s at %s is the newest; nothing to bump\n", b.Plugin, b.Kind, b.OldRef, Short(b.OldCommit))
		return
	}
	ref := b.OldRef
	if b.NewRef != b.OldRef {
		ref += " -> " + b.NewRef
		what := map[string]string{KindURL: "version", KindMaven: "version", KindOCI: "tag"}[b.Kind]
		if what == "" {
			what = "ref"
		}
		fmt.Fprintf(w, "%s: %s %s (%s -> %s), wrote plugins/%s/plugin.toml\n", b.Plugin, what, ref, Short(b.OldCommit), Short(b.NewCommit), b.Plugin)
	} else {
		fmt.Fprintf(w, "%s: %s %s (%s -> %s)\n", b.Plugin, b.Kind, ref, Short(b.OldCommit), Short(b.NewCommit))
	}
	switch h := b.History; {
	case b.HistoryError != "":
		fmt.Fprintf(w, "  (commits in between not listed: %s)\n", b.HistoryError)
	case h != nil:
		for _, c := range h.Commits {
			fmt.Fprintf(w, "  - %s %s\n", Short(c.Commit), c.Title)
		}
		if h.Truncated {
			fmt.Fprintf(w, "  - ... (more commits; the first %d are listed)\n", BumpLogLimit)
		}
		if h.Unrelated {
			fmt.Fprintf(w, "  (%s is not in the history of %s: the history was rewritten or the tag moved to another branch)\n",
				Short(b.OldCommit), Short(b.NewCommit))
		}
	}
}
