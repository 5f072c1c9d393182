package demokit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/launcher/render"
	"github.com/graft-build/graft/lockfile"
)

// TestExampleSitesLoad: the demo sites and the ArchivesSpace definitions pass graft's strict
// parsing, and their merged launcher configuration passes the launcher's validation.
func TestExampleSitesLoad(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"plugins-example/demo/site", "plugins-example/demo/site-buildkit", "plugins-example/archivesspace"} {
		p, err := lockfile.Load(filepath.Join(root, site))
		if err != nil {
			t.Errorf("%s: %v", site, err)
			continue
		}
		merged := merge(p)
		if err := merged.Validate(site, nil); err != nil {
			t.Errorf("%s: merged launcher config: %v", site, err)
		}
		if len(merged.Components) == 0 || len(merged.Processes) == 0 {
			t.Errorf("%s: no components or processes", site)
		}
	}
}

// merge is the builder's merge without a lock: plugins in name order.
func merge(p *lockfile.Project) config.Config {
	c := p.Site.Launcher
	for _, pl := range p.Plugins {
		c.Settings = append(c.Settings, pl.Launcher.Settings...)
		if pl.Config.Snippet != "" {
			c.Snippets = append(c.Snippets, config.Snippet{Plugin: pl.Name, Text: pl.Config.Snippet})
		}
		for target, text := range pl.Config.Targets {
			c.Snippets = append(c.Snippets, config.Snippet{Plugin: pl.Name, Target: target, Text: text})
		}
	}
	return c
}

// TestTemplatesRender renders the demo's demo.conf and ArchivesSpace's config.rb with the
// launcher's own renderer, for one component and for all.
func TestTemplatesRender(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		site, tmpl string
		comps      []string
		want       []string
	}{
		{"plugins-example/demo/site", "plugins-example/demo/base/files/demo.conf.tmpl", []string{"backend"},
			[]string{"components = backend\n", "setting.greeting_shared_secret = v-greeting_shared_secret\n",
				"# plugin greeting\nplugin.greeting.message = Hello from the greeting plugin\n", "db_url = v-db_url\n"}},
		{"plugins-example/archivesspace", "plugins-example/archivesspace/site_config/templates/config.rb.tmpl",
			[]string{"frontend", "public"},
			[]string{"AppConfig[:enable_backend]  = false", "AppConfig[:enable_frontend] = true",
				"# --- plugin aspace-oauth\nAppConfig[:plugins] << \"aspace-oauth\""}},
		{"plugins-example/archivesspace", "plugins-example/archivesspace/site_config/templates/launcher_rc.rb.tmpl",
			[]string{"backend"},
			[]string{"# --- plugin site_config\njava.lang.System.set_property(\"java.io.tmpdir\", \"/archivesspace/tmp\")"}},
	}
	for _, c := range cases {
		p, err := lockfile.Load(filepath.Join(root, c.site))
		if err != nil {
			t.Fatal(err)
		}
		merged := merge(p)
		settings := map[string]string{}
		for _, s := range merged.Settings {
			settings[s.Name] = "v-" + s.Name
		}
		dest := filepath.Join(t.TempDir(), "out")
		err = render.File(config.Template{Src: filepath.Join(root, c.tmpl), Dest: dest},
			render.NewData(settings, c.comps, merged.Snippets), render.Secrets{})
		if err != nil {
			t.Errorf("%s: %v", c.tmpl, err)
			continue
		}
		out, _ := os.ReadFile(dest)
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: rendered file lacks %q:\n%s", c.tmpl, w, out)
			}
		}
	}
}
