package main

import (
	"fmt"
	"strings"

	"github.com/graft-build/graft/builder"
	graftprogress "github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
)

// reportContract tells, after a build, what the image's runtime contract holds and how it
// differs from the one graft.lock recorded (nothing, unless the lock predates this graft's
// launcher configuration rules): so a new required setting is read before a deployment finds it.
func reportContract(p *lockfile.Project, rep graftprogress.Reporter) error {
	merged, err := builder.MergeLauncherConfig(p)
	if err != nil {
		return err
	}
	c := imagecontract.FromConfig(merged)
	if p.Lock != nil && p.Lock.Contract != nil {
		var b strings.Builder
		imagecontract.PrintChanges(&b, imagecontract.Diff(p.Lock.Contract, c))
		for i, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if line != "" {
				rep.Event(graftprogress.Event{Subject: fmt.Sprintf("contract %d", i+1), Phase: graftprogress.Done, Detail: line, Plain: line})
			}
		}
	}
	if len(c.Components) > 0 || len(c.Settings) > 0 {
		summary := imagecontract.Summary(c)
		rep.Event(graftprogress.Event{Subject: "contract", Phase: graftprogress.Done, Detail: summary, Plain: "contract: " + summary})
	}
	return nil
}
