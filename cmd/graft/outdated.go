package main

import (
	"fmt"
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
		Short: "Show newer version tags and moved branch heads for the locked plugins",
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
			list, err := p.Outdated(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(g.stdout, map[string]any{"plugins": list}); err != nil {
					return err
				}
			} else {
				for _, o := range list {
					fmt.Fprintln(g.stdout, outdatedLine(o))
				}
			}
			if exitCode && slices.ContainsFunc(list, func(o lockfile.Outdated) bool { return !o.Current() }) {
				return errCheckFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when a plugin is outdated, not locked yet or removed")
	cmd.Flags().IntVar(&jobs, "jobs", lockfile.DefaultJobs, "repositories contacted in parallel")
	cmd.Flags().DurationVar(&timeout, "timeout", lockfile.DefaultTimeout, "time allowed per repository")
	return cmd
}

func outdatedLine(o lockfile.Outdated) string {
	if o.NotLocked {
		return fmt.Sprintf("%s: not locked yet; run `graft lock`", o.Plugin)
	}
	if o.Removed {
		return fmt.Sprintf("%s: in graft.lock but plugins/%s/plugin.toml is gone; run `graft lock` to drop it", o.Plugin, o.Plugin)
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
