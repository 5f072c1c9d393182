package builder

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
)

// SiteContract is the runtime contract the site's definitions give its image (no lock
// needed): settings and components, with the health check a build gives the image.
func SiteContract(p *lockfile.Project) *imagecontract.Contract {
	return p.Contract().WithImageConfig(v1.Config{Healthcheck: Healthcheck(p.Site)})
}

// ReportContract tells, after a build, what the image's runtime contract holds and how it
// differs from the one graft.lock recorded (nothing, unless the lock predates this graft's
// launcher configuration rules): so a new required setting is read before a deployment finds
// it. One event per change ("contract N"), then the summary ("contract") unless the image has
// no components and no settings.
func ReportContract(p *lockfile.Project, rep progress.Reporter) error {
	merged, err := MergeLauncherConfig(p)
	if err != nil {
		return err
	}
	c := imagecontract.FromConfig(merged)
	if p.Lock != nil && p.Lock.Contract != nil {
		var b strings.Builder
		imagecontract.PrintChanges(&b, imagecontract.Diff(p.Lock.Contract, c))
		for i, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if line != "" {
				rep.Event(progress.Event{Subject: fmt.Sprintf("contract %d", i+1), Phase: progress.Done, Detail: line, Plain: line})
			}
		}
	}
	if len(c.Components) > 0 || len(c.Settings) > 0 {
		summary := imagecontract.Summary(c)
		rep.Event(progress.Event{Subject: "contract", Phase: progress.Done, Detail: summary, Plain: "contract: " + summary})
	}
	return nil
}
