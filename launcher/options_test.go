package launcher

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/launcher/config"
)

func TestLoadOptions(t *testing.T) {
	o, err := loadOptions(map[string]string{"GRAFT_STOP_TIMEOUT": "", "GRAFT_COMPONENTS": " backend, ,frontend "})
	if err != nil {
		t.Fatal(err)
	}
	// Empty means default, as for app settings.
	if o.StopTimeout != 10*time.Second || o.StartupTimeout != 5*time.Minute || o.ConfigPath != config.DefaultPath || o.ShowConfig {
		t.Fatalf("defaults: %+v", o)
	}
	if !slices.Equal(o.Components, []string{"backend", "frontend"}) {
		t.Fatalf("components %q", o.Components)
	}
	for env, want := range map[string]string{
		"GRAFT_SHOW_CONFIG=maybe":    `GRAFT_SHOW_CONFIG="maybe" is not valid; use true or false`,
		"GRAFT_STARTUP_TIMEOUT=0s":   `GRAFT_STARTUP_TIMEOUT="0s" must be positive`,
		"GRAFT_STARTUP_TIMEOUT=5":    `GRAFT_STARTUP_TIMEOUT="5" is not valid; use a Go duration such as 90s or 5m`,
		"GRAFT_STOP_TIMEOUT=-1s":     `GRAFT_STOP_TIMEOUT="-1s" must not be negative`,
		"GRAFT_STOP_TIMEOUT=forever": `GRAFT_STOP_TIMEOUT="forever" is not valid`,
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := loadOptions(map[string]string{k: v})
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want prefix %q", env, err, want)
		}
	}
}

func TestSelection(t *testing.T) {
	cfg := &config.Config{
		Components: []config.Component{{Name: "backend", Port: 1}, {Name: "frontend", Port: 2}, {Name: "oai", Port: 3}},
		Processes: []config.Process{
			{Name: "jvm", Command: []string{"x"}, Components: []string{"backend", "frontend"}},
			{Name: "cron", Command: []string{"x"}},
			{Name: "oai", Command: []string{"x"}, Components: []string{"oai"}},
		},
	}
	comps, err := selectComponents(cfg, []string{"frontend"}, []string{"oai"})
	if err != nil || len(comps) != 1 || comps[0].Name != "frontend" {
		t.Fatalf("args win over GRAFT_COMPONENTS: %v %v", comps, err)
	}
	procs, err := processesFor(cfg, comps)
	if err != nil || len(procs) != 2 || procs[0].Name != "jvm" || procs[1].Name != "cron" {
		t.Fatalf("processes for frontend: %v %v", procs, err)
	}
	if comps, _ := selectComponents(cfg, nil, nil); len(comps) != 3 {
		t.Fatalf("default is all components: %v", comps)
	}
	cfg.Components = append(cfg.Components, config.Component{Name: "orphan", Port: 4})
	comps, _ = selectComponents(cfg, []string{"orphan"}, nil)
	if _, err := processesFor(cfg, comps); err == nil || !strings.Contains(err.Error(), "component orphan is served by no [[process]]") {
		t.Fatalf("unserved component: %v", err)
	}
	if _, err := processesFor(&config.Config{}, nil); err == nil || !strings.Contains(err.Error(), "nothing to run") {
		t.Fatalf("no process: %v", err)
	}
}
