// Package imagecontract holds the runtime contract of an image graft builds: what a deployment
// must honour for the launcher to start it (its components and ports, the settings it must be
// given, secret or not, and under which variables, its health check and stop timing), where
// that contract comes from (a site's definitions or an image's own launcher.toml), what
// changed between two contracts, how a contract is printed, and the report `graft inspect`
// gives of an image graft built (its labels and contract, per platform).
package imagecontract

import (
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/launcher/config"
)

// DefaultStopTimeout is graft-launcher's GRAFT_STOP_TIMEOUT when the variable is not set
// (launcher.Options; a test keeps the two equal).
const DefaultStopTimeout = 10 * time.Second

// Contract is what a deployment of an image must honour. Components and Settings are kept in
// graft.lock ([[contract.component]], [[contract.setting]]), so the next `graft lock` can say
// what changed.
type Contract struct {
	Components []Component `toml:"component,omitempty" json:"components"`
	Settings   []Setting   `toml:"setting,omitempty" json:"settings"`
	// Health is the image's HEALTHCHECK; nil when it has none. Not kept in graft.lock:
	// graft.toml's [healthcheck] holds it.
	Health *Health `toml:"-" json:"health,omitempty"`
	// StopTimeout is GRAFT_STOP_TIMEOUT as the image sets it (its config's environment),
	// else the launcher's default: how long the launcher lets the app drain on SIGTERM.
	StopTimeout Duration `toml:"-" json:"stop_timeout"`
}

// Component is one component of the image, as users select it (GRAFT_COMPONENTS, `run NAME`).
type Component struct {
	Name    string `toml:"name" json:"name"`
	Port    int    `toml:"port" json:"port"`
	Health  string `toml:"health,omitempty" json:"health,omitempty"`   // HTTP path; "" is a TCP connect
	Process string `toml:"process,omitempty" json:"process,omitempty"` // the process serving it
}

// Setting is one application setting: its value comes from Env, or from the file Env_FILE names.
type Setting struct {
	Name     string `toml:"name" json:"name"`
	Env      string `toml:"env" json:"env"`
	Required bool   `toml:"required,omitempty" json:"required,omitempty"`
	Secret   bool   `toml:"secret,omitempty" json:"secret,omitempty"`
	Default  string `toml:"default,omitempty" json:"default,omitempty"`
	// Plugin is the plugin whose plugin.toml declares it; "" for graft.toml (and for a contract
	// read from an image, which does not record it).
	Plugin string `toml:"plugin,omitempty" json:"plugin,omitempty"`
}

// MustGive reports whether a deployment must give the setting: required, with no default.
func (s Setting) MustGive() bool { return s.Required && s.Default == "" }

// Health is an image's HEALTHCHECK: its command and timing (zero: the engine's default).
type Health struct {
	Test        []string `json:"test"`
	Interval    Duration `json:"interval,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"`
	StartPeriod Duration `json:"start_period,omitempty"`
	Retries     int      `json:"retries,omitempty"`
}

// Duration prints as Go writes durations ("1m30s") in JSON.
type Duration time.Duration

// MarshalText writes d as "1m30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// FromConfig is the contract a launcher configuration gives: its components (with the process
// serving each) and settings, in declaration order. Health and StopTimeout are the image's:
// see WithImageConfig.
func FromConfig(cfg *config.Config) *Contract {
	c := &Contract{Components: []Component{}, Settings: []Setting{}, StopTimeout: Duration(DefaultStopTimeout)}
	serving := map[string]string{}
	for _, p := range cfg.Processes {
		for _, name := range p.Components {
			serving[name] = p.Name
		}
	}
	for _, comp := range cfg.Components {
		c.Components = append(c.Components, Component{Name: comp.Name, Port: comp.Port, Health: comp.Health, Process: serving[comp.Name]})
	}
	for _, s := range cfg.Settings {
		c.Settings = append(c.Settings, Setting{Name: s.Name, Env: s.Env, Required: s.Required, Secret: s.Secret, Default: s.Default})
	}
	return c
}

// WithImageConfig sets the contract's health check and stop timeout from an image config.
func (c *Contract) WithImageConfig(cfg v1.Config) *Contract {
	if h := cfg.Healthcheck; h != nil && len(h.Test) > 0 && h.Test[0] != "NONE" {
		c.Health = &Health{Test: h.Test, Interval: Duration(h.Interval), Timeout: Duration(h.Timeout),
			StartPeriod: Duration(h.StartPeriod), Retries: h.Retries}
	}
	for _, kv := range cfg.Env {
		if v, ok := strings.CutPrefix(kv, StopTimeoutEnv+"="); ok {
			if d, err := time.ParseDuration(v); err == nil && d >= 0 {
				c.StopTimeout = Duration(d)
			}
		}
	}
	return c
}

// StopTimeoutEnv is the launcher's variable for the drain time after SIGTERM.
const StopTimeoutEnv = "GRAFT_STOP_TIMEOUT"

// ComponentsEnv is the launcher's variable selecting components.
const ComponentsEnv = "GRAFT_COMPONENTS"

// Component returns the component called name, or nil.
func (c *Contract) Component(name string) *Component {
	for i := range c.Components {
		if c.Components[i].Name == name {
			return &c.Components[i]
		}
	}
	return nil
}

// ComponentNames lists the components in declaration order.
func (c *Contract) ComponentNames() []string {
	out := make([]string, len(c.Components))
	for i, comp := range c.Components {
		out[i] = comp.Name
	}
	return out
}

// UnmarshalText reads "1m30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
