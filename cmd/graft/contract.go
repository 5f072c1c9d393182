package main

import (
	"github.com/graft-build/graft/builder"
	graftprogress "github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/lockfile"
)

// reportContract is builder.ReportContract, under the name build.go calls it by.
func reportContract(p *lockfile.Project, rep graftprogress.Reporter) error {
	return builder.ReportContract(p, rep)
}
