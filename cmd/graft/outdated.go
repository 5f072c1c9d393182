package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/lockfile"
)

func newOutdatedCmd(g *globalOpts) *cobra.Command {
	var asJSON, exitCode bool
	jobs, timeout := lockfile.DefaultJobs, lockfile.DefaultTimeout
	cmd := &cobra.Command{
		Use:   "outdated",
		Short: "Show newer version tags, moved tags and branch heads, and a rebuilt or newer base image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := lockfile.Load(g.dir)
			if err != nil {
				return err
			}
			opts, err := resolveOptions(jobs, timeout)
			if err != nil {
				return err
			}
			base, err := p.OutdatedBase(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			list, err := p.Outdated(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(g.stdout, map[string]any{"base": base, "plugins": list}); err != nil {
					return err
				}
			} else {
				printOutdated(g.stdout, base, list)
			}
			if exitCode && (!base.Current() || slices.ContainsFunc(list, func(o lockfile.Outdated) bool { return !o.Current() })) {
				return errCheckFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when the base or a plugin is outdated, moved, not locked yet or removed")
	cmd.Flags().IntVar(&jobs, "jobs", lockfile.DefaultJobs, "repositories contacted in parallel")
	cmd.Flags().DurationVar(&timeout, "timeout", lockfile.DefaultTimeout, "time allowed per repository")
	return cmd
}

func printOutdated(w io.Writer, base *lockfile.BaseOutdated, list []lockfile.Outdated) {
	fmt.Fprintln(w, baseOutdatedLine(base))
	for _, o := range list {
		fmt.Fprintln(w, outdatedLine(o))
	}
}

// baseOutdatedLine is the base's line of `graft outdated`.
func baseOutdatedLine(b *lockfile.BaseOutdated) string {
	if b.NotLocked {
		return fmt.Sprintf("base: %s is not the locked base; run `graft lock --update %s`", b.Ref, lockfile.BaseName)
	}
	var parts []string
	if b.Digest != "" {
		parts = append(parts, fmt.Sprintf("rebuilt: the tag now names %s (to refresh: graft lock --update %s)", shortDigest(b.Digest), lockfile.BaseName))
	}
	if len(b.NewerTags) > 0 {
		tags := make([]string, len(b.NewerTags))
		for i, t := range b.NewerTags {
			tags[i] = t.Tag + blockers(t.BlockedBy) + moves(t.Moves)
		}
		parts = append(parts, fmt.Sprintf("newer tags: %s (to bump: graft lock --bump %s)", strings.Join(tags, ", "), lockfile.BaseName))
	}
	status := "up to date"
	if len(parts) > 0 {
		status = strings.Join(parts, "; ")
	}
	return fmt.Sprintf("base: %s at %s: %s", b.Ref, shortDigest(b.Locked), status)
}

// blockers shows the plugins that would block a base upgrade, after the tag.
func blockers(bs []lockfile.Blocker) string {
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
func moves(ms []lockfile.Move) string {
	if len(ms) == 0 {
		return ""
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Plugin + " " + m.From + " -> " + m.To
	}
	return " (moves " + strings.Join(out, ", ") + ")"
}

func outdatedLine(o lockfile.Outdated) string {
	if o.NotLocked {
		return fmt.Sprintf("%s: not locked yet; run `graft lock --changed`", o.Plugin)
	}
	if o.Removed {
		return fmt.Sprintf("%s: in graft.lock but plugins/%s/plugin.toml is gone; run `graft lock --changed` to drop it", o.Plugin, o.Plugin)
	}
	if o.Kind == lockfile.KindLocal {
		return fmt.Sprintf("%s: local %s at tree %s: kept in the site repository (graft lock --check reports changes)", o.Plugin, o.Ref, short(o.Locked))
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
		parts = append(parts, fmt.Sprintf("tag moved: now at %s, the release was re-tagged (review it, then: graft lock --update %s)", short(o.Moved), o.Plugin))
	}
	if len(o.NewerTags) > 0 {
		parts = append(parts, fmt.Sprintf("newer tags: %s (to bump: graft lock --bump %s)",
			strings.Join(o.NewerTags, ", "), o.Plugin))
	}
	if o.Head != "" && o.Kind == lockfile.KindOCI {
		parts = append(parts, fmt.Sprintf("the tag now names %s (to take it: graft lock --update %s)", short(o.Head), o.Plugin))
	} else if o.Head != "" {
		parts = append(parts, fmt.Sprintf("branch head now %s (to bump: graft lock --update %s)", short(o.Head), o.Plugin))
	}
	status := "up to date"
	if len(parts) > 0 {
		status = strings.Join(parts, "; ")
	}
	return fmt.Sprintf("%s: %s %s at %s: %s", o.Plugin, o.Kind, o.Ref, short(o.Locked), status)
}

// shortDigest is sha256: and the first 12 hex digits.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok {
		return short(d)
	}
	return algo + ":" + short(hex)
}
