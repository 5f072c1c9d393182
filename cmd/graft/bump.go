package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/lockreport"
)

// runBump is lock --bump: lockfile.BumpAll moves the plugins (and the base), then the
// bumps are printed and the lock listed, or all of it written as one JSON document.
func runBump(cmd *cobra.Command, g *globalOpts, o *lockOpts) error {
	p, opts, err := o.load(g)
	if err != nil {
		return err
	}
	r, err := p.BumpAll(cmd.Context(), o.bump, opts...)
	if err != nil {
		return err
	}
	if o.json {
		rep := lockreport.New(p, r.Lock, filepath.Join(p.Dir, lockfile.LockFile), r.Written)
		doc := map[string]any{"bumps": r.Plugins, "lock": rep}
		if r.Base != nil {
			doc["base"] = r.Base
		}
		return writeJSON(g.stdout, doc)
	}
	if r.Base != nil {
		r.Base.Print(g.stdout)
	}
	for _, b := range r.Plugins {
		b.Print(g.stdout)
	}
	// Nothing moved: the "nothing to bump" lines say it all; the listing would only repeat the lock.
	if r.Moved() || r.Written {
		lockreport.Print(g.stdout, p, r.Lock, r.Written)
	}
	return nil
}
