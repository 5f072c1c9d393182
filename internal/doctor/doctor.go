// Package doctor says what this machine has for graft and what a site needs of it: launchers,
// git, Docker Engine, BuildKit, credentials for the site's registries and git hosts, graft's
// lock and cache. It only looks: it starts, builds, fetches and writes nothing.
package doctor

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Status of one finding.
type Status string

const (
	OK      Status = "ok"      // present and working
	Info    Status = "info"    // worth knowing; nothing to do
	Warn    Status = "warn"    // missing, but this site does not need it now
	Missing Status = "missing" // this site needs it: a build or lock would fail
)

// Finding is one line of the report.
type Finding struct {
	Topic  string `json:"topic"` // "docker", "buildkit", "registry ghcr.io", "git github.com", ...
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"` // what to do, for warn and missing
}

// Report is every finding, in the order they were made.
type Report struct {
	Site     string    `json:"site,omitempty"` // the site repository examined, if any
	Findings []Finding `json:"findings"`
}

// Failed reports whether the site needs something this machine lacks.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Status == Missing })
}

func (r *Report) add(topic string, s Status, detail, fix string) {
	r.Findings = append(r.Findings, Finding{Topic: topic, Status: s, Detail: detail, Fix: fix})
}

// Print writes the report as aligned lines, a fix under each finding that has one.
func (r *Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range r.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Status, f.Topic, oneLine(f.Detail))
		if f.Fix != "" {
			fmt.Fprintf(tw, "\t\t→ %s\n", oneLine(f.Fix))
		}
	}
	return tw.Flush()
}

// Check is one probe; Run calls each in turn.
type Check func(ctx context.Context, r *Report)

// Run makes the report from checks.
func Run(ctx context.Context, site string, checks ...Check) *Report {
	r := &Report{Site: site}
	for _, c := range checks {
		if ctx.Err() != nil {
			break
		}
		c(ctx, r)
	}
	return r
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
