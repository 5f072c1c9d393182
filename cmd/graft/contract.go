package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/graft-build/graft/builder"
	graftprogress "github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
)

// contractChanges is what changed in the runtime contract from the old lock to the new one;
// nil when there was no old lock, or it recorded no contract.
func contractChanges(old, now *lockfile.Lock) []imagecontract.Change {
	if old == nil || old.Contract == nil || now.Contract == nil {
		return nil
	}
	return imagecontract.Diff(old.Contract, now.Contract)
}

// printContractChanges prints, after a lock's listing, what the new lock changes for the
// deployments of the image: one line per change, then where to check the deploy files.
func printContractChanges(w io.Writer, old, now *lockfile.Lock) {
	if old != nil && old.Contract == nil && now.Contract != nil {
		fmt.Fprintf(w, "contract: graft.lock records the image's runtime contract from now on; the next lock shows what changes\n")
		return
	}
	printChanges(w, contractChanges(old, now))
}

func printChanges(w io.Writer, changes []imagecontract.Change) {
	for _, c := range changes {
		fmt.Fprintf(w, "contract: %s\n", c.Message)
	}
	if slices.ContainsFunc(changes, func(c imagecontract.Change) bool { return c.Breaking }) {
		fmt.Fprintf(w, "contract: deployments that worked before may not start: check them with `graft check-deploy FILE`\n")
	}
}

// contractSummary is one line saying what a deployment of the image must give it.
func contractSummary(c *imagecontract.Contract) string {
	var give []string
	for _, s := range c.Settings {
		if s.MustGive() {
			what := s.Env
			if s.Secret {
				what += "_FILE (secret)"
			}
			give = append(give, what)
		}
	}
	must := "nothing"
	if len(give) > 0 {
		must = strings.Join(give, ", ")
	}
	if len(c.Components) == 0 {
		return "every service must give " + must
	}
	return fmt.Sprintf("components %s; every service must give %s", strings.Join(c.ComponentNames(), ", "), must)
}

// printContract shows a runtime contract under inspect's other sections, in aligned columns.
func printContract(w io.Writer, c *imagecontract.Contract) {
	if c == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "components %d\n", len(c.Components))
	for _, comp := range c.Components {
		health := "health " + comp.Health
		if comp.Health == "" {
			health = "health TCP connect"
		}
		fmt.Fprintf(tw, "  %s\tport %d\t%s\tprocess %s\n", comp.Name, comp.Port, health, comp.Process)
	}
	tw.Flush()
	fmt.Fprintf(w, "settings  %d\n", len(c.Settings))
	for _, s := range c.Settings {
		var what []string
		if s.MustGive() {
			what = append(what, "required")
		}
		if s.Secret {
			what = append(what, "secret")
		}
		if s.Default != "" {
			what = append(what, fmt.Sprintf("default %q", s.Default))
		}
		if len(what) == 0 {
			what = append(what, "optional")
		}
		fmt.Fprintf(tw, "  %s\t%s, %s_FILE\t%s\n", s.Name, s.Env, s.Env, strings.Join(what, ", "))
	}
	tw.Flush()
	if h := c.Health; h != nil {
		fmt.Fprintf(w, "health    %s: every %s, timeout %s, start period %s, retries %s\n", strings.Join(h.Test, " "),
			orEngine(time.Duration(h.Interval)), orEngine(time.Duration(h.Timeout)), orEngine(time.Duration(h.StartPeriod)), orEngineN(h.Retries))
	} else {
		fmt.Fprintln(w, "health    none")
	}
	fmt.Fprintf(w, "stop      %s %s (the drain after SIGTERM; give a longer stop_grace_period)\n", imagecontract.StopTimeoutEnv, time.Duration(c.StopTimeout))
}

func orEngine(d time.Duration) string {
	if d == 0 {
		return "(engine default)"
	}
	return d.String()
}

func orEngineN(n int) string {
	if n == 0 {
		return "(engine default)"
	}
	return fmt.Sprint(n)
}

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
		printChanges(&b, imagecontract.Diff(p.Lock.Contract, c))
		for i, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if line != "" {
				rep.Event(graftprogress.Event{Subject: fmt.Sprintf("contract %d", i+1), Phase: graftprogress.Done, Detail: line, Plain: line})
			}
		}
	}
	if len(c.Components) > 0 || len(c.Settings) > 0 {
		rep.Event(graftprogress.Event{Subject: "contract", Phase: graftprogress.Done, Detail: contractSummary(c), Plain: "contract: " + contractSummary(c)})
	}
	return nil
}
