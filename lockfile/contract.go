package lockfile

import (
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/launcher/config"
)

// Contract is the runtime contract the definitions give the image: graft.toml's components
// (with the process serving each) and settings, then every plugin's settings in plugin name
// order, each marked with the plugin declaring it. The image's health check timing is
// builder.Healthcheck's (graft.toml's [healthcheck]).
func (p *Project) Contract() *imagecontract.Contract {
	l := p.Site.Launcher
	c := imagecontract.FromConfig(&config.Config{Settings: l.Settings, Components: l.Components, Processes: l.Processes})
	for _, pl := range p.Plugins {
		for _, s := range pl.Launcher.Settings {
			c.Settings = append(c.Settings, imagecontract.Setting{Name: s.Name, Env: s.Env, Required: s.Required,
				Secret: s.Secret, Default: s.Default, Plugin: pl.Name})
		}
	}
	return c
}
