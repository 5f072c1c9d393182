// Package mediawiki holds no code: its test locks, builds (with BuildKit, for the composer step)
// and starts this site repository offline, against a stand-in MediaWiki image with the official
// image's layout and local git repositories in place of gerrit.wikimedia.org.
package mediawiki

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildkit"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/plugins-example/examplekit"
)

const realBase = "docker.io/library/mediawiki:1.42.3"

// composer stands in for `composer install`: it needs the extension's composer.json and writes
// vendor/autoload.php where it runs (the extension's folder).
const composer = `#!/bin/sh
set -e
test -f composer.json || { echo "composer: no composer.json in $(pwd)" >&2; exit 1; }
mkdir -p vendor
echo "<?php // autoload of $(basename "$(pwd)"), installed by uid $(id -u)" > vendor/autoload.php
`

// apache stands in for apache2-foreground: it checks that PHP would get the secret and that
// every extension LocalSettings.php loads is installed, then serves /var/www/html.
const apache = `#!/bin/sh
set -e
test -n "$MW_SECRET_KEY" || { echo "MW_SECRET_KEY is not set" >&2; exit 1; }
for e in $(grep -o "wfLoadExtension( '[A-Za-z]*' )" /var/www/html/LocalSettings.php | sed "s/.*'\(.*\)'.*/\1/"); do
  test -f "/var/www/html/extensions/$e/extension.json" || { echo "extension $e is not installed" >&2; exit 1; }
  echo "loaded extension $e"
done
exec httpd -f -p 80 -h /var/www/html
`

// mediawikiBase is the official image's layout: MediaWiki in /var/www/html with bundled
// extensions and skins (owned by www-data), MEDIAWIKI_VERSION in the environment.
func mediawikiBase(version string) examplekit.Base {
	major := version[:strings.LastIndex(version, ".")]
	return examplekit.Base{
		Applets: []string{"basename", "stat"},
		Users:   "www-data:x:33:33::/var/www:/bin/sh\n",
		Dirs: map[string]string{"/var/www": "0:0", "/var/www/html": "33:33", "/var/www/html/extensions": "33:33",
			"/var/www/html/extensions/ParserFunctions": "33:33", "/var/www/html/skins": "33:33", "/var/www/html/skins/Vector": "33:33",
			"/var/www/html/images": "33:33", "/var/www/html/includes": "0:0", "/usr/local/bin": "0:0"},
		Files: map[string]string{"/usr/local/bin/composer@x": composer, "/usr/local/bin/apache2-foreground@x": apache,
			"/var/www/html/index.php": "<?php // MediaWiki " + version, "/var/www/html/includes/Defines.php": "<?php define( 'MW_VERSION', '" + version + "' );",
			"/var/www/html/extensions/ParserFunctions/extension.json": "{}", "/var/www/html/skins/Vector/skin.json": "{}"},
		Env:        []string{"MEDIAWIKI_MAJOR_VERSION=" + major, "MEDIAWIKI_VERSION=" + version},
		WorkingDir: "/var/www/html", Cmd: []string{"apache2-foreground"}, Tag: version,
	}
}

// extension makes an extension's repository with master and REL1_42, REL1_43 branches.
func extension(t *testing.T, root, name string, composer bool) map[string]string {
	r := gittest.NewRepo(t, root, name)
	heads := map[string]string{}
	for _, branch := range []string{"master", "REL1_42", "REL1_43"} {
		r.Branch(branch)
		files := map[string]string{"extension.json": `{"name": "` + name + `", "branch": "` + branch + `"}`}
		if composer {
			files["composer.json"] = `{"require": {"wikimedia/css-sanitizer": "5.x"}}`
		}
		r.Write(files)
		heads[branch] = r.Commit(name + " " + branch)
	}
	return heads
}

// TestMediaWikiSite: the extensions follow the base to REL1_42, TemplateStyles' composer step
// runs in BuildKit as www-data, LocalSettings.php loads each extension through its snippet, the
// wiki starts; moving the base to 1.43 moves the extensions to REL1_43 in one `graft lock`.
func TestMediaWikiSite(t *testing.T) {
	examplekit.Isolate(t)
	d := buildkittest.Start(t)
	repos := t.TempDir()
	ts := extension(t, repos, "TemplateStyles", true)
	extension(t, repos, "UniversalLanguageSelector", false)
	dir := examplekit.CopySite(t, realBase, "oci-layout://base:1.42.3",
		map[string]string{"https://gerrit.wikimedia.org/r/mediawiki/extensions/": "file://" + repos + "/"})
	examplekit.WriteBase(t, filepath.Join(dir, "base"), mediawikiBase("1.42.3"))

	p := examplekit.MustLock(t, dir)
	if pk := p.PluginLock("templatestyles"); p.Lock.Base.Version != "1.42.3" || pk.Ref != "REL1_42" || pk.Commit != ts["REL1_42"] {
		t.Fatalf("locked base %+v, TemplateStyles %+v", p.Lock.Base, pk)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	engine, err := buildkit.New(ctx, d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	res := examplekit.Build(t, p, builder.WithStepRunner(engine))
	files := buildtest.ImageFiles(t, res.Image)
	if got := files["/var/www/html/extensions/TemplateStyles/vendor/autoload.php"]; got != "<?php // autoload of TemplateStyles, installed by uid 33\n" {
		t.Errorf("composer step: vendor/autoload.php = %q", got)
	}
	if got := files["/var/www/html/extensions/UniversalLanguageSelector/extension.json"]; !strings.Contains(got, "REL1_42") {
		t.Errorf("ULS extension.json = %q", got)
	}

	if examplekit.HasDocker(t) {
		secret := filepath.Join(t.TempDir(), "secret_key")
		os.WriteFile(secret, []byte("0123456789abcdef\n"), 0o644)
		tag := examplekit.Load(t, res.Image, "graft-mediawiki")
		name := examplekit.Start(t, tag, []string{"-e", "MW_SECRET_KEY_FILE=/run/secrets/secret_key", "-e", "MW_DB_PASSWORD=db-pass",
			"-e", "MW_SITENAME=Graft wiki", "-v", secret + ":/run/secrets/secret_key:ro"})
		settings := examplekit.MustDocker(t, "exec", name, "cat", "/var/www/html/LocalSettings.php")
		want := "# extension templatestyles\nwfLoadExtension( 'TemplateStyles' );\n\n# extension uls\nwfLoadExtension( 'UniversalLanguageSelector' );"
		if !strings.Contains(settings, want) || !strings.Contains(settings, "$wgSitename = 'Graft wiki';") || strings.Contains(settings, "0123456789abcdef") {
			t.Errorf("LocalSettings.php:\n%s", settings)
		}
		logs := examplekit.MustDocker(t, "logs", name)
		if !strings.Contains(logs, "loaded extension TemplateStyles") || !strings.Contains(logs, "loaded extension UniversalLanguageSelector") {
			t.Errorf("logs:\n%s", logs)
		}
	}

	// MediaWiki 1.43: both extensions move with the base, and REL1_43 exists for both.
	plan, err := p.PlanBase(ctx, "1.43.0")
	if err != nil || len(plan) != 2 || plan[0].Blocks || !plan[0].Moves || plan[0].NewRef != "REL1_43" {
		t.Fatalf("PlanBase(1.43.0) = %+v, %v", plan, err)
	}
	examplekit.WriteBase(t, filepath.Join(dir, "base143"), mediawikiBase("1.43.0"))
	site, _ := os.ReadFile(filepath.Join(dir, lockfile.SiteFile))
	os.WriteFile(filepath.Join(dir, lockfile.SiteFile), []byte(strings.Replace(string(site), "oci-layout://base:1.42.3", "oci-layout://base143:1.43.0", 1)), 0o644)
	p = examplekit.MustLock(t, dir)
	if pk := p.PluginLock("templatestyles"); p.Lock.Base.Version != "1.43.0" || pk.Ref != "REL1_43" || pk.Commit != ts["REL1_43"] {
		t.Errorf("after the base moved: base %+v, TemplateStyles %+v", p.Lock.Base, pk)
	}
}
