package launcher

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/graft-build/graft/launcher/config"
)

// DefaultPortDir is used when neither GRAFT_PORT_DIR nor launcher.toml's port_dir is set.
const DefaultPortDir = config.DefaultPortDir

// Options are the launcher's own settings, from GRAFT_* variables. caarlos0/env applies
// envDefault to set-but-empty variables too, which is what we want: an empty variable means
// "use the default", as for app settings.
type Options struct {
	ConfigPath     string        `env:"GRAFT_LAUNCHER_CONFIG" envDefault:"/etc/graft/launcher.toml"`
	Components     []string      `env:"GRAFT_COMPONENTS" envSeparator:","`
	ShowConfig     bool          `env:"GRAFT_SHOW_CONFIG" envDefault:"false"`
	PortDir        string        `env:"GRAFT_PORT_DIR"`
	TmpDir         string        `env:"GRAFT_TMP_DIR"`
	HealthAddr     string        `env:"GRAFT_HEALTH_ADDR"`
	StartupTimeout time.Duration `env:"GRAFT_STARTUP_TIMEOUT" envDefault:"5m"`
	StopTimeout    time.Duration `env:"GRAFT_STOP_TIMEOUT" envDefault:"10s"`
}

// envNames maps Options fields to their variables, to name the variable in parse errors
// (caarlos0/env's errors name the Go field).
var envNames = map[string]string{
	"ConfigPath": "GRAFT_LAUNCHER_CONFIG", "Components": "GRAFT_COMPONENTS",
	"ShowConfig": "GRAFT_SHOW_CONFIG", "PortDir": "GRAFT_PORT_DIR", "TmpDir": "GRAFT_TMP_DIR",
	"HealthAddr": "GRAFT_HEALTH_ADDR", "StartupTimeout": "GRAFT_STARTUP_TIMEOUT",
	"StopTimeout": "GRAFT_STOP_TIMEOUT",
}

var hints = map[string]string{
	"GRAFT_SHOW_CONFIG":     "use true or false",
	"GRAFT_STARTUP_TIMEOUT": "use a Go duration such as 90s or 5m",
	"GRAFT_STOP_TIMEOUT":    "use a Go duration such as 10s",
}

// loadOptions parses GRAFT_* from env.
func loadOptions(environ map[string]string) (Options, error) {
	var o Options
	err := env.ParseWithOptions(&o, env.Options{Environment: environ})
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		name := envNames[pe.Name]
		return o, fmt.Errorf("%s=%q is not valid; %s", name, environ[name], hints[name])
	}
	if err != nil {
		return o, err
	}
	if o.StartupTimeout <= 0 {
		return o, fmt.Errorf("GRAFT_STARTUP_TIMEOUT=%q must be positive; %s", environ["GRAFT_STARTUP_TIMEOUT"], hints["GRAFT_STARTUP_TIMEOUT"])
	}
	if o.StopTimeout < 0 {
		return o, fmt.Errorf("GRAFT_STOP_TIMEOUT=%q must not be negative; %s", environ["GRAFT_STOP_TIMEOUT"], hints["GRAFT_STOP_TIMEOUT"])
	}
	var comps []string
	for _, c := range o.Components {
		if c = strings.TrimSpace(c); c != "" {
			comps = append(comps, c)
		}
	}
	o.Components = comps
	return o, nil
}

// loadConfig reads launcher.toml and applies the GRAFT_* overrides.
func loadConfig(o Options) (*config.Config, error) {
	data, err := os.ReadFile(o.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("read launcher config: %w (set GRAFT_LAUNCHER_CONFIG to its path)", err)
	}
	cfg, err := config.Parse(o.ConfigPath, data)
	if err != nil {
		// Several problems come one per line; the launcher prints one line, so show the first
		// and count the rest.
		lines := strings.Split(err.Error(), "\n")
		if len(lines) > 1 {
			return nil, fmt.Errorf("%s (and %d more problems)", lines[0], len(lines)-1)
		}
		return nil, err
	}
	if o.PortDir != "" {
		if err := config.CheckDir("GRAFT_PORT_DIR", o.PortDir); err != nil {
			return nil, err
		}
		cfg.PortDir = o.PortDir
	}
	if cfg.PortDir == "" {
		cfg.PortDir = DefaultPortDir
	}
	if o.TmpDir != "" {
		if err := config.CheckDir("GRAFT_TMP_DIR", o.TmpDir); err != nil {
			return nil, err
		}
		cfg.TmpDir = o.TmpDir
	}
	return cfg, nil
}

// protectedPaths are the paths the launcher reads or writes besides tmp_dir: tmp_dir may be
// none of them and hold none of them, or cleaning it would destroy them.
func protectedPaths(configPath string, cfg *config.Config) []string {
	out := []string{configPath, cfg.PortDir, cfg.PluginsDir}
	for _, t := range cfg.Templates {
		out = append(out, t.Src, t.Dest)
	}
	for _, h := range cfg.Hooks {
		out = append(out, h.Dir)
		if len(h.Run) > 0 {
			out = append(out, h.Run[0])
		}
	}
	for _, p := range cfg.Processes {
		out = append(out, p.Dir)
		if len(p.Command) > 0 {
			out = append(out, p.Command[0])
		}
	}
	return out
}

// selectComponents returns the components to start: args, else GRAFT_COMPONENTS, else all
// declared, in declaration order, each checked to exist and to be served by a process.
func selectComponents(cfg *config.Config, args, fromEnv []string) ([]config.Component, error) {
	want := args
	if len(want) == 0 {
		want = fromEnv
	}
	if len(want) == 0 {
		return cfg.Components, nil
	}
	byName := map[string]config.Component{}
	var known []string
	for _, c := range cfg.Components {
		byName[c.Name] = c
		known = append(known, c.Name)
	}
	var out []config.Component
	seen := map[string]bool{}
	for _, name := range want {
		c, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("unknown component %q; declared components: %s", name, strings.Join(known, ", "))
		}
		if !seen[name] {
			out = append(out, c)
			seen[name] = true
		}
	}
	return out, nil
}
