package imagecontract

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Changes is what changed from the old contract to the new one; nil when there was no old
// contract (a lock that recorded none) or no new one.
func Changes(old, now *Contract) []Change {
	if old == nil || now == nil {
		return nil
	}
	return Diff(old, now)
}

// PrintChanges prints one "contract:" line per change, then, when one of them may break a
// deployment, where to check the deploy files.
func PrintChanges(w io.Writer, changes []Change) {
	for _, c := range changes {
		fmt.Fprintf(w, "contract: %s\n", c.Message)
	}
	if slices.ContainsFunc(changes, func(c Change) bool { return c.Breaking }) {
		fmt.Fprintf(w, "contract: deployments that worked before may not start: check them with `graft check-deploy FILE`\n")
	}
}

// Summary is one line saying what a deployment of the image must give it.
func Summary(c *Contract) string {
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

// Print shows a contract in aligned columns (graft inspect's contract section); nothing for a
// nil contract.
func Print(w io.Writer, c *Contract) {
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
		fmt.Fprintf(tw, "  %s\t%s, %s_FILE\t%s\n", s.Name, s.Env, s.Env, settingTraits(s))
	}
	tw.Flush()
	if h := c.Health; h != nil {
		fmt.Fprintf(w, "health    %s: every %s, timeout %s, start period %s, retries %s\n", strings.Join(h.Test, " "),
			orEngine(time.Duration(h.Interval)), orEngine(time.Duration(h.Timeout)), orEngine(time.Duration(h.StartPeriod)), orEngineN(h.Retries))
	} else {
		fmt.Fprintln(w, "health    none")
	}
	fmt.Fprintf(w, "stop      %s %s (the drain after SIGTERM; give a longer stop_grace_period)\n", StopTimeoutEnv, time.Duration(c.StopTimeout))
}

// settingTraits is "required, secret, default "x"", or "optional" when it is none of those.
func settingTraits(s Setting) string {
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
	return strings.Join(what, ", ")
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
