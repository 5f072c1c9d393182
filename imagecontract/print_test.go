package imagecontract

import (
	"strings"
	"testing"
	"time"
)

func TestChangesNeedBothContracts(t *testing.T) {
	c := &Contract{Settings: []Setting{{Name: "db", Env: "DB", Required: true}}}
	if Changes(nil, c) != nil || Changes(c, nil) != nil {
		t.Fatal("a missing contract has no changes")
	}
	if got := Changes(&Contract{}, c); len(got) != 1 || !got[0].Breaking {
		t.Fatalf("a new required setting: %+v", got)
	}
}

func TestPrintChanges(t *testing.T) {
	var b strings.Builder
	PrintChanges(&b, []Change{{Message: "new component api (port 8089)"}})
	if want := "contract: new component api (port 8089)\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	PrintChanges(&b, []Change{{Message: "component oai removed", Breaking: true}})
	want := "contract: component oai removed\n" +
		"contract: deployments that worked before may not start: check them with `graft check-deploy FILE`\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		c    Contract
		want string
	}{
		{Contract{}, "every service must give nothing"},
		{Contract{Settings: []Setting{{Env: "DB", Required: true, Secret: true}, {Env: "URL", Required: true, Default: "x"}, {Env: "KEY", Required: true}}},
			"every service must give DB_FILE (secret), KEY"},
		{Contract{Components: []Component{{Name: "web"}, {Name: "api"}}}, "components web, api; every service must give nothing"},
	} {
		if got := Summary(&tc.c); got != tc.want {
			t.Errorf("Summary(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestPrint(t *testing.T) {
	var b strings.Builder
	Print(&b, nil)
	if b.Len() != 0 {
		t.Fatalf("a nil contract printed %q", b.String())
	}
	c := &Contract{
		Components: []Component{{Name: "web", Port: 8080, Health: "/health", Process: "java"}, {Name: "indexer", Port: 8082, Process: "sh"}},
		Settings: []Setting{{Name: "db", Env: "DB", Required: true, Secret: true}, {Name: "url", Env: "APP_URL", Default: "x"},
			{Name: "opt", Env: "OPT"}},
		Health:      &Health{Test: []string{"CMD", "/graft-launcher", "health"}, Interval: Duration(10 * time.Second), Retries: 3},
		StopTimeout: Duration(25 * time.Second),
	}
	Print(&b, c)
	want := `components 2
  web      port 8080  health /health      process java
  indexer  port 8082  health TCP connect  process sh
settings  3
  db   DB, DB_FILE            required, secret
  url  APP_URL, APP_URL_FILE  default "x"
  opt  OPT, OPT_FILE          optional
health    CMD /graft-launcher health: every 10s, timeout (engine default), start period (engine default), retries 3
stop      GRAFT_STOP_TIMEOUT 25s (the drain after SIGTERM; give a longer stop_grace_period)
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	Print(&b, &Contract{})
	if !strings.Contains(b.String(), "health    none\n") {
		t.Fatalf("no health check: %q", b.String())
	}
}
