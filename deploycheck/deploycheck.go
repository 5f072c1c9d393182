// Package deploycheck checks Docker Compose and Swarm stack files against an image's runtime
// contract before anything is deployed: every service running the image gives each setting
// it must have (X, or X_FILE naming a secret or file it mounts), selects only components the
// image has, keeps the image's health check, and gives the launcher time to drain on stop.
// The files are read with compose-go, the loader of Docker Compose.
package deploycheck

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sirupsen/logrus"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/usererr"
)

// DefaultStopGracePeriod is Docker's stop_grace_period when a service sets none.
const DefaultStopGracePeriod = 10 * time.Second

// secretsDir is where Compose and Swarm mount a secret whose target is not absolute.
const secretsDir = "/run/secrets"

// Load reads the deploy files as `docker compose -f A -f B` (and `docker stack deploy -c A
// -c B`) would: merged in order, variables interpolated from env and the first file's folder's
// .env, every profile enabled (a check covers every service a file can start). A file that is
// missing or invalid is bad input (exit 2).
func Load(ctx context.Context, files, env []string) (*types.Project, error) {
	// compose-go warns through logrus's global logger (an obsolete `version:`, YAML 1.1
	// booleans): not what this check reports, and not in logrus's format on graft's output.
	level := logrus.GetLevel()
	logrus.SetLevel(logrus.ErrorLevel)
	defer logrus.SetLevel(level)
	opts, err := cli.NewProjectOptions(files, cli.WithWorkingDirectory(filepath.Dir(files[0])), cli.WithEnv(env),
		cli.WithDotEnv, cli.WithProfiles([]string{"*"}), cli.WithName("check"))
	if err != nil {
		return nil, usererr.New("%s: %v", strings.Join(files, ", "), err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, usererr.New("%s: %v; fix the file (docker compose -f FILE config shows the same)", strings.Join(files, ", "), oneLine(err))
	}
	return p, nil
}

func oneLine(err error) string { return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ") }

// Finding is a problem (the deployment would fail at start or roll back) or a note.
type Finding struct {
	Service    string   `json:"service"`
	Components []string `json:"components,omitempty"` // what the service runs; "exec" services: templates' selection
	Setting    string   `json:"setting,omitempty"`
	Message    string   `json:"message"`
}

// String is the finding as one line: `service S (components a, b): message`.
func (f Finding) String() string {
	comps := strings.Join(f.Components, ", ")
	if comps == "" {
		comps = "no components"
	}
	return fmt.Sprintf("service %s (%s): %s", f.Service, comps, f.Message)
}

// Service is one checked service.
type Service struct {
	Name       string   `json:"name"`
	Command    string   `json:"command"` // run, exec, or the launcher command it runs
	Components []string `json:"components"`
}

// Report is the outcome of a check.
type Report struct {
	Services []Service `json:"services"`
	Problems []Finding `json:"problems"`
	Notes    []Finding `json:"notes"`
}

// OK reports whether nothing would fail.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Select names the services running the image: the listed ones, else those whose image is in
// Repository (any tag or digest).
type Select struct {
	Services   []string
	Repository string // e.g. registry.example.edu/library/archivesspace
}

// Services picks the services sel names; none is bad input that lists the services there are.
func Services(p *types.Project, sel Select) ([]types.ServiceConfig, error) {
	names := p.ServiceNames()
	slices.Sort(names)
	var out []types.ServiceConfig
	if len(sel.Services) > 0 {
		for _, n := range sel.Services {
			s, ok := p.Services[n]
			if !ok {
				return nil, usererr.New("--service %s: no such service; the files have: %s", n, strings.Join(names, ", "))
			}
			out = append(out, s)
		}
		return out, nil
	}
	want, err := repository(sel.Repository)
	if err != nil || sel.Repository == "" {
		return nil, usererr.New("say which services run the image: --service NAME (the files have: %s)", strings.Join(names, ", "))
	}
	for _, n := range names {
		if got, err := repository(p.Services[n].Image); err == nil && got == want {
			out = append(out, p.Services[n])
		}
	}
	if len(out) == 0 {
		return nil, usererr.New("no service runs %s (services: %s); give the image as it is named in the files, or --service NAME", sel.Repository, strings.Join(names, ", "))
	}
	return out, nil
}

// repository is the registry repository of an image reference, normalised as Docker does
// (graft-demo:latest is index.docker.io/library/graft-demo).
func repository(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	return r.Context().Name(), nil
}

// Check checks services against the contract c.
func Check(services []types.ServiceConfig, c *imagecontract.Contract) *Report {
	r := &Report{Services: []Service{}, Problems: []Finding{}, Notes: []Finding{}}
	for _, s := range services {
		checkService(r, s, c)
	}
	return r
}

// launcherCommands are graft-launcher's commands that start nothing a deployment serves.
var launcherCommands = []string{"healthcheck", "config", "version", "--version", "help", "-h", "--help"}

func checkService(r *Report, s types.ServiceConfig, c *imagecontract.Contract) {
	add := func(list *[]Finding, comps []string, setting, format string, args ...any) {
		*list = append(*list, Finding{Service: s.Name, Components: comps, Setting: setting, Message: fmt.Sprintf(format, args...)})
	}
	if len(s.Entrypoint) > 0 && !(len(s.Entrypoint) == 1 && path.Base(s.Entrypoint[0]) == "graft-launcher") {
		add(&r.Notes, nil, "", "entrypoint %q replaces graft-launcher: not checked", strings.Join(s.Entrypoint, " "))
		return
	}
	cmd := []string(s.Command)
	if len(cmd) == 0 {
		cmd = []string{"run"} // the image's CMD
	}
	env := func(k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	selected := components(env(imagecontract.ComponentsEnv))
	switch {
	case cmd[0] == "run" && len(cmd) > 1:
		selected = cmd[1:]
	case cmd[0] == "run", cmd[0] == "exec":
	case slices.Contains(launcherCommands, cmd[0]):
		add(&r.Notes, nil, "", "runs `graft-launcher %s`: not checked", cmd[0])
		return
	default:
		add(&r.Problems, nil, "", "command %q is not one of graft-launcher's (run [COMPONENT...], exec -- CMD [ARG...]): the container exits at start", strings.Join(cmd, " "))
		return
	}
	if len(selected) == 0 {
		selected = c.ComponentNames()
	}
	shown := selected
	if cmd[0] == "exec" {
		shown = append([]string{"exec"}, selected...)
	}
	r.Services = append(r.Services, Service{Name: s.Name, Command: cmd[0], Components: selected})
	for _, name := range selected {
		if c.Component(name) == nil {
			add(&r.Problems, shown, "", "component %q is not in the image (it has: %s): the launcher refuses to start", name, strings.Join(c.ComponentNames(), ", "))
		}
	}
	for _, st := range c.Settings {
		checkSetting(r, s, st, shown, env)
	}
	if cmd[0] == "exec" {
		return // a one-off job: no health check to keep, nothing to drain
	}
	if h := s.HealthCheck; c.Health != nil && h != nil && (h.Disable || len(h.Test) > 0 && h.Test[0] == "NONE") {
		add(&r.Problems, shown, "", "healthcheck disabled: the image's (%s) is how the engine tells a started component from a failed one, and what a rolling update waits for and rolls back on; remove `disable` (one-off jobs: run them with `exec`)",
			strings.Join(c.Health.Test, " "))
	}
	for _, v := range []string{imagecontract.StopTimeoutEnv, "GRAFT_STARTUP_TIMEOUT"} {
		if val := env(v); val != "" {
			if d, err := time.ParseDuration(val); err != nil || d < 0 {
				add(&r.Problems, shown, "", "%s=%q is not a Go duration (such as 30s or 5m): the launcher refuses to start", v, val)
			}
		}
	}
	stop := time.Duration(c.StopTimeout)
	if d, err := time.ParseDuration(env(imagecontract.StopTimeoutEnv)); err == nil && d >= 0 {
		stop = d
	}
	grace, from := DefaultStopGracePeriod, " (Docker's default)"
	if s.StopGracePeriod != nil {
		grace, from = time.Duration(*s.StopGracePeriod), ""
	}
	if grace < stop {
		add(&r.Problems, shown, "", "stop_grace_period %s%s is shorter than %s %s: the engine kills the container before the launcher's drain ends; give a stop_grace_period longer than %s",
			grace, from, imagecontract.StopTimeoutEnv, stop, imagecontract.StopTimeoutEnv)
	}
}

// checkSetting: the setting is given the way the launcher reads it.
func checkSetting(r *Report, s types.ServiceConfig, st imagecontract.Setting, shown []string, env func(string) string) {
	add := func(list *[]Finding, format string, args ...any) {
		*list = append(*list, Finding{Service: s.Name, Components: shown, Setting: st.Name, Message: fmt.Sprintf(format, args...)})
	}
	kind := "setting"
	if st.Secret {
		kind = "secret setting"
	}
	direct, file := env(st.Env), env(st.Env+"_FILE")
	switch {
	case direct != "" && file != "":
		add(&r.Problems, "%s %s: both %s and %s_FILE are set, which the launcher refuses: keep one", kind, st.Name, st.Env, st.Env)
	case file != "" && !mounted(s, file):
		add(&r.Problems, "%s %s: %s_FILE=%s, but the service mounts no secret, config or volume there: the launcher cannot read it", kind, st.Name, st.Env, file)
	case direct == "" && file == "" && st.MustGive() && st.Secret:
		add(&r.Problems, "required secret setting %s is not given: set %s_FILE to a secret the service mounts (or %s)", st.Name, st.Env, st.Env)
	case direct == "" && file == "" && st.MustGive():
		add(&r.Problems, "required setting %s is not given: set %s (or %s_FILE)", st.Name, st.Env, st.Env)
	case direct != "" && st.Secret:
		add(&r.Notes, "secret setting %s is given in the environment (%s), which `docker inspect` shows: prefer %s_FILE and a secret", st.Name, st.Env, st.Env)
	}
}

// mounted reports whether file is a secret or config the service mounts, or lies in a volume
// or bind mount of it.
func mounted(s types.ServiceConfig, file string) bool {
	file = path.Clean(file)
	for _, sec := range s.Secrets {
		if target(sec.Target, sec.Source, secretsDir) == file {
			return true
		}
	}
	for _, cfg := range s.Configs {
		if target(cfg.Target, cfg.Source, "/") == file {
			return true
		}
	}
	for _, v := range s.Volumes {
		if t := path.Clean(v.Target); v.Target != "" && (t == file || strings.HasPrefix(file, strings.TrimSuffix(t, "/")+"/")) {
			return true
		}
	}
	return false
}

// target is where a secret or config is mounted: its target, made absolute under dir, else
// dir/source.
func target(t, source, dir string) string {
	if t == "" {
		t = source
	}
	if !path.IsAbs(t) {
		t = path.Join(dir, t)
	}
	return path.Clean(t)
}

// components reads GRAFT_COMPONENTS as the launcher does: comma-separated, blanks dropped.
func components(v string) []string {
	var out []string
	for _, c := range strings.Split(v, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}
