package launcher

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/launcher/render"
	"github.com/graft-build/graft/launcher/settings"
	"github.com/graft-build/graft/launcher/tmpclean"
)

// showConfig is `graft-launcher config`: the resolved configuration on stdout.
func (l *launcher) showConfig(args []string) int {
	if len(args) > 0 {
		return l.exitWith(exitUsage, fmt.Errorf("config takes no arguments (got %q)", args[0]))
	}
	if err := l.setup(); err != nil {
		return l.exitWith(exitUsage, err)
	}
	comps, err := selectComponents(l.cfg, nil, l.opts.Components)
	if err != nil {
		return l.exitWith(exitUsage, err)
	}
	if err := l.resolve(); err != nil {
		return l.exitWith(exitUsage, err)
	}
	l.writeConfig(l.stdout, comps)
	return 0
}

// writeConfig prints the resolved configuration as TOML-like text. Values are redacted field by
// field: a secret setting is shown as settings.Redacted, and every other value that came from
// configuration (paths, commands) passes RedactField, so a secret that also appears there is
// hidden without garbling the values around it.
func (l *launcher) writeConfig(w io.Writer, comps []config.Component) {
	var b strings.Builder
	q := func(s string) string { return strconv.Quote(l.res.RedactField(s)) }
	list := func(items []string) string {
		out := make([]string, len(items))
		for i, s := range items {
			out[i] = q(s)
		}
		return strings.Join(out, ", ")
	}
	fmt.Fprintf(&b, "# graft-launcher resolved configuration (secrets shown as %s)\n", settings.Redacted)
	fmt.Fprintf(&b, "launcher_config = %s\n", q(l.opts.ConfigPath))
	fmt.Fprintf(&b, "components = [%s]\n", list(componentNames(comps)))
	fmt.Fprintf(&b, "tmp_dir = %s%s\nport_dir = %s\n", q(l.cfg.TmpDir), l.tmpRealNote(), q(l.cfg.PortDir))
	fmt.Fprintf(&b, "health_addr = %s\n", q(l.opts.HealthAddr))
	// Durations are the launcher's own parse of GRAFT_* variables: never a setting's value.
	fmt.Fprintf(&b, "startup_timeout = %s\nstop_timeout = %s\n", strconv.Quote(l.opts.StartupTimeout.String()), strconv.Quote(l.opts.StopTimeout.String()))
	b.WriteString("\n[settings]\n")
	for _, v := range l.res.Values {
		src := v.Origin()
		if v.Source == settings.FromEnv || v.Source == settings.FromFile {
			src = "from " + src
		}
		if v.Secret {
			src += ", secret"
		}
		val := strconv.Quote(v.Display())
		if !v.Secret {
			val = q(v.Value)
		}
		fmt.Fprintf(&b, "%s = %s  # %s\n", v.Name, val, src)
	}
	for _, t := range l.cfg.Templates {
		fmt.Fprintf(&b, "\n[[template]]\nsrc = %s\ndest = %s\n", q(t.Src), q(t.Dest))
		switch private, err := render.Private(t.Src, l.res.SecretNames()); {
		case err != nil:
			fmt.Fprintf(&b, "# %s\n", l.res.Redact(strings.ReplaceAll(err.Error(), "\n", " ")))
		case private:
			b.WriteString("mode = \"0600\"  # reads a secret setting\n")
		default:
			b.WriteString("mode = \"0644\"  # 0600 if the output holds a secret; an existing file keeps its mode\n")
		}
	}
	for _, h := range l.cfg.Hooks {
		fmt.Fprintf(&b, "\n[[hook]]\nname = %s\nrun = [%s]\n", q(h.Name), list(h.Run))
		l.writeEnv(&b, "hook", l.appEnviron(h.Env))
	}
	procs, _ := processesFor(l.cfg, comps)
	for _, p := range procs {
		fmt.Fprintf(&b, "\n[[process]]\nname = %s\ncommand = [%s]\ncomponents = [%s]\n", q(p.Name), list(p.Command), list(p.Components))
		if p.Dir != "" {
			fmt.Fprintf(&b, "dir = %s\n", q(p.Dir))
		}
		if p.User != "" {
			fmt.Fprintf(&b, "user = %s\n", q(p.User))
		}
		l.writeEnv(&b, "process", l.appEnviron(p.Env))
	}
	for _, c := range comps {
		fmt.Fprintf(&b, "\n[[component]]\nname = %s\nport = %d\nhealth = %s\n", q(c.Name), c.Port, q(c.Health))
		if len(c.FailOn) > 0 {
			fmt.Fprintf(&b, "fail_on = [%s]\n", list(c.FailOn))
		}
	}
	io.WriteString(w, b.String())
}

// tmpRealNote is a comment giving the folder run would empty, when a symlinked folder above
// tmp_dir makes it another path.
func (l *launcher) tmpRealNote() string {
	if l.cfg.TmpDir == "" {
		return ""
	}
	real, err := tmpclean.RealPath(l.cfg.TmpDir)
	if err != nil || real == filepath.Clean(l.cfg.TmpDir) {
		return ""
	}
	return "  # emptied at " + strconv.Quote(l.res.RedactField(real)) + " (a folder above it is a symlink)"
}

// writeEnv prints the environment a hook or process gets, as the sub-table [table.env]: every
// entry in the order the program sees them, a secret setting's variable as settings.Redacted,
// any other value through RedactField.
func (l *launcher) writeEnv(b *strings.Builder, table string, environ []string) {
	secretEnv := map[string]bool{}
	for _, v := range l.res.Values {
		if v.Secret && v.Value != "" {
			secretEnv[v.Env] = true
		}
	}
	fmt.Fprintf(b, "[%s.env]  # as the launcher passes it\n", table)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if secretEnv[k] {
			v = settings.Redacted
		} else {
			v = l.res.RedactField(v)
		}
		fmt.Fprintf(b, "%s = %s\n", tomlKey(k), strconv.Quote(v))
	}
}

// tomlKey quotes a key unless it is a bare TOML key.
func tomlKey(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(k)
		}
	}
	if k == "" {
		return `""`
	}
	return k
}
