// Package launcher is graft-launcher: the container entrypoint that resolves settings from the
// environment and *_FILE secrets, renders the app's config, cleans tmp, runs plugin hooks,
// starts the selected components, writes their port files once ready, and supervises them as
// PID 1. Main is the whole program; cmd/graft-launcher only calls it.
package launcher

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/graft-build/graft/healthcheck"
	"github.com/graft-build/graft/internal/version"
	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/launcher/settings"
)

// Exit codes of the launcher itself (a supervised process's own code is passed through).
const (
	exitFailure = 1 // startup failed (hook, template, readiness, tmp), or unhealthy
	exitUsage   = 2 // bad arguments, launcher.toml, GRAFT_* variable or app setting
)

const usage = `usage:
  graft-launcher run [COMPONENT...]          start the components (default; or GRAFT_COMPONENTS)
  graft-launcher healthcheck [COMPONENT...]  exit 0 if healthy, 1 if not
  graft-launcher config                      print the resolved configuration, secrets redacted
  graft-launcher exec -- CMD [ARG...]        run a one-off command with the same settings
  graft-launcher version`

// launcher holds one invocation's inputs.
type launcher struct {
	environ []string          // the launcher's environment, as os.Environ
	env     map[string]string // the same, as a map
	stdout  io.Writer
	stderr  io.Writer
	opts    Options
	cfg     *config.Config
	res     *settings.Resolved // nil until settings are resolved
}

// Main runs graft-launcher with args (without the program name) and returns the exit code.
// It is the whole program: the caller must exit with the code at once, since a run leaves its
// signal handlers and child reaper in place rather than spend time taking them down.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	l := &launcher{environ: environ, env: settings.EnvMap(environ), stdout: stdout, stderr: stderr}
	cmd, rest := "run", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return l.run(rest)
	case "healthcheck":
		return l.healthcheck(rest)
	case "config":
		return l.showConfig(rest)
	case "exec":
		return l.exec(rest)
	case "version", "--version":
		fmt.Fprintln(stdout, "graft-launcher", version.String())
		return 0
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	l.logf("unknown command %q; run graft-launcher help", cmd)
	return exitUsage
}

// logf prints one line on stderr, with every secret value redacted. Each argument is redacted
// before formatting, because a verb such as %q escapes a secret holding a quote, a backslash or
// a control character into text no longer equal to it; the line is redacted again as a whole.
func (l *launcher) logf(format string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = l.res.Redact(v)
		case error:
			args[i] = l.res.Redact(v.Error())
		case fmt.Stringer:
			args[i] = l.res.Redact(v.String())
		}
	}
	line := fmt.Sprintf(format, args...)
	line = strings.ReplaceAll(l.res.Redact(line), "\n", " ")
	fmt.Fprintln(l.stderr, "graft-launcher: "+line)
}

// setup loads GRAFT_* options and launcher.toml.
func (l *launcher) setup() error {
	opts, err := loadOptions(l.env)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(opts)
	if err != nil {
		return err
	}
	l.opts, l.cfg = opts, cfg
	return nil
}

// resolve resolves the app settings declared in launcher.toml.
func (l *launcher) resolve() error {
	res, err := settings.Resolve(l.cfg.Settings, l.env)
	if err != nil {
		return err
	}
	l.res = res
	return nil
}

// appEnviron is the environment a hook or process sees: the launcher's, X_FILE removed, the
// resolved settings exported as X, then the entry's own env on top.
func (l *launcher) appEnviron(extra map[string]string) []string {
	base := l.res.Environ(l.environ)
	if len(extra) == 0 {
		return base
	}
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := extra[k]; !ok {
			out = append(out, kv)
		}
	}
	for _, k := range sortedKeys(extra) {
		out = append(out, k+"="+extra[k])
	}
	return out
}

// healthcheck probes the started components; exit 0 healthy, 1 otherwise (Docker reserves 2,
// so even usage errors give 1).
func (l *launcher) healthcheck(args []string) int {
	if err := l.setup(); err != nil {
		fmt.Fprintln(l.stdout, "unhealthy: "+err.Error())
		return 1
	}
	names := args
	if len(names) == 0 {
		names = healthcheck.ReadSelected(l.cfg.PortDir)
	}
	comps, err := selectComponents(l.cfg, names, l.opts.Components)
	if err != nil {
		fmt.Fprintln(l.stdout, "unhealthy: "+err.Error())
		return 1
	}
	ok, line := healthcheck.Check(context.Background(), l.cfg.PortDir, healthComponents(comps))
	fmt.Fprintln(l.stdout, line)
	if !ok {
		return 1
	}
	return 0
}

func healthComponents(comps []config.Component) []healthcheck.Component {
	out := make([]healthcheck.Component, len(comps))
	for i, c := range comps {
		out[i] = healthcheck.Component{Name: c.Name, Port: c.Port, Path: c.Health}
	}
	return out
}

func componentNames(comps []config.Component) []string {
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = c.Name
	}
	return out
}

// exitWith prints a startup failure line and returns code.
func (l *launcher) exitWith(code int, err error) int {
	l.logf("%v", err)
	return code
}
