package builder_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
)

type events struct {
	mu  sync.Mutex
	got []progress.Event
}

func (e *events) Event(ev progress.Event) { e.mu.Lock(); e.got = append(e.got, ev); e.mu.Unlock() }

const secretSetting = "[[launcher.setting]]\nname = \"key\"\nenv = \"APP_KEY\"\nrequired = true\nsecret = true\n"

// A build names what every service must give, and what changed since the lock's contract.
func TestReportContract(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", secretSetting)
	p := s.Load()
	var e events
	if err := builder.ReportContract(p, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.got) != 1 || e.got[0].Subject != "contract" || e.got[0].Plain != "contract: every service must give APP_KEY_FILE (secret)" {
		t.Fatalf("no lock: %+v", e.got)
	}
	p.Lock = &lockfile.Lock{Contract: &imagecontract.Contract{}}
	e.got = nil
	if err := builder.ReportContract(p, &e); err != nil {
		t.Fatal(err)
	}
	var plain []string
	for _, ev := range e.got {
		plain = append(plain, ev.Subject+": "+ev.Plain)
	}
	got := strings.Join(plain, "\n")
	if len(e.got) != 3 || !strings.HasPrefix(got, "contract 1: contract: new required secret setting key") ||
		!strings.Contains(got, "contract 2: contract: deployments that worked before may not start") ||
		!strings.HasSuffix(got, "contract: contract: every service must give APP_KEY_FILE (secret)") {
		t.Fatalf("against a lock's empty contract:\n%s", got)
	}

	empty := buildtest.NewSite(t, "oci-layout://base", "")
	e.got = nil
	if err := builder.ReportContract(empty.Load(), &e); err != nil || len(e.got) != 0 {
		t.Fatalf("a site without settings or components: %+v, %v", e.got, err)
	}
}

// The site's contract carries the health check a build gives the image.
func TestSiteContract(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "[healthcheck]\ninterval = \"7s\"\n\n"+secretSetting)
	c := builder.SiteContract(s.Load())
	if len(c.Settings) != 1 || c.Health == nil || time.Duration(c.Health.Interval) != 7*time.Second ||
		strings.Join(c.Health.Test, " ") != "CMD "+builder.LauncherPath+" healthcheck" {
		t.Fatalf("contract %+v, health %+v", c, c.Health)
	}
}
