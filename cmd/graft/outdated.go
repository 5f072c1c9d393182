package main

import (
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
				lockfile.PrintOutdated(g.stdout, base, list)
			}
			if exitCode && !lockfile.AllCurrent(base, list) {
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
