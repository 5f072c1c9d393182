package imagecontract

import (
	"fmt"
	"strings"
)

// Change is one difference between two contracts, worded for the people who keep the
// deployment files.
type Change struct {
	What    string `json:"what"` // setting-added, setting-removed, setting-changed, component-added, component-removed, component-changed
	Name    string `json:"name"` // the setting or component
	Message string `json:"message"`
	// Breaking: a deployment that worked with the old contract may not start with the new one
	// (a setting it must now give, a component it selects that is gone, a port that moved).
	Breaking bool `json:"breaking"`
}

// Diff lists what changed from old to new: settings by name, then components by name, each
// in the new contract's order (removals in the old one's).
func Diff(old, new *Contract) []Change {
	var out []Change
	oldSettings := map[string]Setting{}
	for _, s := range old.Settings {
		oldSettings[s.Name] = s
	}
	newSettings := map[string]bool{}
	for _, s := range new.Settings {
		newSettings[s.Name] = true
		o, had := oldSettings[s.Name]
		switch {
		case !had:
			out = append(out, Change{What: "setting-added", Name: s.Name, Breaking: s.MustGive(),
				Message: fmt.Sprintf("new %s %s", describe(s), given(s))})
		case o.Env != s.Env || o.MustGive() != s.MustGive() || o.Secret != s.Secret || o.Default != s.Default:
			out = append(out, settingChanged(o, s))
		}
	}
	for _, s := range old.Settings {
		if !newSettings[s.Name] {
			out = append(out, Change{What: "setting-removed", Name: s.Name,
				Message: fmt.Sprintf("setting %s (%s) removed: the image no longer reads it", s.Name, s.Env)})
		}
	}
	oldComps := map[string]Component{}
	for _, c := range old.Components {
		oldComps[c.Name] = c
	}
	newComps := map[string]bool{}
	for _, c := range new.Components {
		newComps[c.Name] = true
		o, had := oldComps[c.Name]
		switch {
		case !had:
			out = append(out, Change{What: "component-added", Name: c.Name,
				Message: fmt.Sprintf("new component %s (port %d)", c.Name, c.Port)})
		case o.Port != c.Port || o.Health != c.Health:
			out = append(out, Change{What: "component-changed", Name: c.Name, Breaking: o.Port != c.Port,
				Message: fmt.Sprintf("component %s: port %d%s -> %d%s: update published ports and probes", c.Name, o.Port, healthPath(o.Health), c.Port, healthPath(c.Health))})
		}
	}
	for _, c := range old.Components {
		if !newComps[c.Name] {
			out = append(out, Change{What: "component-removed", Name: c.Name, Breaking: true,
				Message: fmt.Sprintf("component %s removed: a service selecting it (%s, run %s) will not start", c.Name, ComponentsEnv, c.Name)})
		}
	}
	return out
}

func settingChanged(o, s Setting) Change {
	var what []string
	if o.Env != s.Env {
		what = append(what, fmt.Sprintf("now read from %s, not %s", s.Env, o.Env))
	}
	switch {
	case s.MustGive() && !o.MustGive():
		what = append(what, "now required: "+given(s))
	case !s.MustGive() && o.MustGive():
		what = append(what, "no longer required")
	}
	if s.Secret != o.Secret {
		what = append(what, map[bool]string{true: "now secret", false: "no longer secret"}[s.Secret])
	}
	if s.Default != o.Default && s.MustGive() == o.MustGive() {
		what = append(what, fmt.Sprintf("default %q -> %q", o.Default, s.Default))
	}
	return Change{What: "setting-changed", Name: s.Name, Breaking: s.MustGive() && (!o.MustGive() || o.Env != s.Env),
		Message: fmt.Sprintf("setting %s: %s", s.Name, strings.Join(what, "; "))}
}

// describe names a setting with what matters to a deployment: "required secret setting x
// (from plugin p)".
func describe(s Setting) string {
	var b strings.Builder
	if s.MustGive() {
		b.WriteString("required ")
	}
	if s.Secret {
		b.WriteString("secret ")
	}
	b.WriteString("setting " + s.Name)
	if s.Plugin != "" {
		b.WriteString(" (plugin " + s.Plugin + ")")
	}
	return b.String()
}

// given says how a deployment gives the setting.
func given(s Setting) string {
	switch {
	case s.MustGive() && s.Secret:
		return fmt.Sprintf("(%s_FILE naming a secret, or %s): every service running the image must give it", s.Env, s.Env)
	case s.MustGive():
		return fmt.Sprintf("(%s or %s_FILE): every service running the image must give it", s.Env, s.Env)
	case s.Default != "":
		return fmt.Sprintf("(%s, default %q)", s.Env, s.Default)
	}
	return fmt.Sprintf("(%s, optional)", s.Env)
}

func healthPath(p string) string {
	if p == "" {
		return " (TCP)"
	}
	return " " + p
}
