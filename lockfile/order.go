package lockfile

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/graft-build/graft/internal/tomldecode"
)

// targetRE is a snippet target name: a file name such as launcher_rc.rb or a hook point.
var targetRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func validateConfig(p *problems, c *PluginConfig) {
	names := make([]string, 0, len(c.Targets))
	for name := range c.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !targetRE.MatchString(name) {
			p.add("config.targets", "config", "target %q is not a valid name; use letters, digits, '.', '_' or '-', e.g. \"launcher_rc.rb\"", name)
		}
		if c.Targets[name] == "" {
			p.add("config.targets", "config", "target %q has empty text; remove it or give the snippet", name)
		}
	}
}

func validatePluginOrder(p *problems, order []string) {
	seen := map[string]bool{}
	for _, name := range order {
		if seen[name] {
			p.add("plugin_order", "", "%q is listed twice; keep one", name)
		}
		seen[name] = true
	}
}

// checkPluginOrder checks that graft.toml's plugin_order names plugins of the site.
func (p *Project) checkPluginOrder() error {
	var errs tomldecode.Errors
	for _, name := range p.Site.PluginOrder {
		if p.Plugin(name) == nil {
			errs = append(errs, &tomldecode.Error{File: p.shownPath(SiteFile), Line: tomldecode.LineOf(p.siteData, "plugin_order"),
				Key: "plugin_order", Msg: fmt.Sprintf("%q is not a plugin of this site (no %s/%s/%s); fix the name or remove it", name, PluginsDir, name, PluginFile)})
		}
	}
	return errs.Err()
}

// Ordered returns the locked plugins in the order of the launcher configuration's per-plugin
// lists: graft.toml's plugin_order first, then the rest in lock order.
func (p *Project) Ordered() []PluginLock {
	if p.Lock == nil {
		return nil
	}
	rank := map[string]int{}
	for i, name := range p.Site.PluginOrder {
		rank[name] = i
	}
	out := append([]PluginLock(nil), p.Lock.Plugins...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, iok := rank[out[i].Name]
		rj, jok := rank[out[j].Name]
		switch {
		case iok && jok:
			return ri < rj
		case iok != jok:
			return iok
		}
		return false
	})
	return out
}
