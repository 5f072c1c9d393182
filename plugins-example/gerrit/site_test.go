// Package gerrit holds no code: its test locks, builds and starts this site repository offline,
// against a stand-in Gerrit image with the official image's layout and a Maven repository
// served on 127.0.0.1 in place of maven.example.org.
package gerrit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/artifacttest"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/gitremote"
	"github.com/graft-build/graft/plugins-example/examplekit"
)

const realBase = "docker.io/gerritcodereview/gerrit:3.10.2"

// entrypoint stands in for the image's /entrypoint.sh (java -jar bin/gerrit.war init, then the
// daemon): it checks what Gerrit reads at start, lists the plugins it loads, and serves the
// version REST endpoint on 8080.
const entrypoint = `#!/bin/sh
set -e
grep -q "canonicalWebUrl = " /var/gerrit/etc/gerrit.config
grep -q "type = OAUTH" /var/gerrit/etc/gerrit.config
grep -q "client-secret = " /var/gerrit/etc/secure.config
mkdir -p /tmp/www/config/server
for p in /var/gerrit/plugins/*.jar; do echo "Loaded plugin $(basename "$p" .jar)"; done
cat /var/gerrit/bin/version > /tmp/www/config/server/version
exec httpd -f -p 8080 -h /tmp/www
`

// gerritBase is the official image's layout: /var/gerrit owned by gerrit (1000), bin/gerrit.war,
// the bundled plugins, a default etc/gerrit.config, /entrypoint.sh, user gerrit.
func gerritBase(version string) examplekit.Base {
	dirs := map[string]string{"/var/gerrit": "1000:1000"}
	for _, d := range []string{"bin", "etc", "plugins", "lib", "data", "git", "index", "cache", "logs", "db"} {
		dirs["/var/gerrit/"+d] = "1000:1000"
	}
	return examplekit.Base{
		Applets: []string{"basename", "stat"},
		Users:   "gerrit:x:1000:1000::/var/gerrit:/bin/sh\n",
		Dirs:    dirs,
		Files: map[string]string{"/entrypoint.sh@x": entrypoint, "/var/gerrit/bin/gerrit.war": "gerrit " + version,
			"/var/gerrit/bin/version": version + "\n", "/var/gerrit/plugins/replication.jar": "bundled",
			"/var/gerrit/plugins/download-commands.jar": "bundled", "/var/gerrit/etc/gerrit.config": "[gerrit]\n  basePath = git\n"},
		User: "gerrit", WorkingDir: "/var/gerrit", Cmd: []string{"/entrypoint.sh"}, Tag: version,
	}
}

// TestGerritSite: the jar plugins come from the Maven repository (credentials from
// GRAFT_GIT_TOKEN_<HOST>, as for git) as plugins/NAME.jar; gerrit.config and secure.config are
// rendered at start with the secret from a file; a newer Gerrit is refused for the plugins made
// for 3.10, and PlanBase says so before anyone tries.
func TestGerritSite(t *testing.T) {
	examplekit.Isolate(t)
	srv := artifacttest.NewServer(t, "ci", "maven-token")
	t.Setenv(gitremote.HostTokenVar(strings.TrimPrefix(srv.URL, "http://")), "ci:maven-token")
	m := artifacttest.NewMaven(srv)
	m.Publish("com.googlesource.gerrit.plugins", "oauth", "3.10.1", "", "", []byte("oauth.jar for 3.10"), "sha1", "sha256")
	m.Publish("com.googlesource.gerrit.plugins", "events-log", "3.10.0", "", "", []byte("events-log.jar for 3.10"), "sha1")
	dir := examplekit.CopySite(t, realBase, "oci-layout://base:3.10.2", map[string]string{"https://maven.example.org/releases": m.Root})
	examplekit.WriteBase(t, filepath.Join(dir, "base"), gerritBase("3.10.2"))

	p := examplekit.MustLock(t, dir)
	oauth := p.PluginLock("oauth")
	if p.Lock.Base.Version != "3.10.2" || oauth.Dest != "/var/gerrit/plugins/oauth.jar" ||
		oauth.URL != "https://maven.example.org/releases/com/googlesource/gerrit/plugins/oauth/3.10.1/oauth-3.10.1.jar" {
		t.Fatalf("locked base %+v, oauth %+v (the lock keeps the real URL, not the mirror)", p.Lock.Base, oauth)
	}
	res := examplekit.Build(t, p)
	files := buildtest.ImageFiles(t, res.Image)
	for path, want := range map[string]string{"/var/gerrit/plugins/oauth.jar": "oauth.jar for 3.10",
		"/var/gerrit/plugins/events-log.jar": "events-log.jar for 3.10", "/var/gerrit/plugins/replication.jar": "bundled"} {
		if files[path] != want {
			t.Errorf("%s = %q, want %q", path, files[path], want)
		}
	}

	if examplekit.HasDocker(t) {
		secret := filepath.Join(t.TempDir(), "oauth_client_secret")
		os.WriteFile(secret, []byte("s3cr3t-from-a-file\n"), 0o644)
		tag := examplekit.Load(t, res.Image, "graft-gerrit")
		name := examplekit.Start(t, tag, []string{"-e", "GERRIT_OAUTH_CLIENT_ID=graft-test",
			"-e", "GERRIT_OAUTH_CLIENT_SECRET_FILE=/run/secrets/oauth_client_secret", "-v", secret + ":/run/secrets/oauth_client_secret:ro"})
		secure := examplekit.MustDocker(t, "exec", name, "cat", "/var/gerrit/etc/secure.config")
		mode := examplekit.MustDocker(t, "exec", name, "stat", "-c", "%a %u", "/var/gerrit/etc/secure.config")
		config := examplekit.MustDocker(t, "exec", name, "cat", "/var/gerrit/etc/gerrit.config")
		logs := examplekit.MustDocker(t, "logs", name)
		if !strings.Contains(secure, "client-secret = s3cr3t-from-a-file") || mode != "600 1000" {
			t.Errorf("secure.config (mode %s):\n%s", mode, secure)
		}
		for _, want := range []string{"client-id = graft-test", "# from plugin events-log", "maxAge = 30", "type = OAUTH"} {
			if !strings.Contains(config, want) {
				t.Errorf("gerrit.config lacks %q:\n%s", want, config)
			}
		}
		for _, want := range []string{"Loaded plugin oauth", "Loaded plugin events-log", "Loaded plugin replication"} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
		if strings.Contains(logs, "s3cr3t") {
			t.Error("the logs show the secret")
		}
	}

	// Gerrit 3.11: the plan says which plugins block it; graft lock refuses them, one line each.
	plan, err := p.PlanBase(t.Context(), "3.11.1")
	if err != nil || len(plan) != 2 || !plan[0].Blocks || plan[0].Plugin != "events-log" || plan[1].Plugin != "oauth" {
		t.Fatalf("PlanBase(3.11.1) = %+v, %v", plan, err)
	}
	examplekit.WriteBase(t, filepath.Join(dir, "base311"), gerritBase("3.11.1"))
	site, _ := os.ReadFile(filepath.Join(dir, lockfile.SiteFile))
	os.WriteFile(filepath.Join(dir, lockfile.SiteFile), []byte(strings.Replace(string(site), "oci-layout://base:3.10.2", "oci-layout://base311:3.11.1", 1)), 0o644)
	_, err = examplekit.Lock(t, dir)
	if err == nil || strings.Count(err.Error(), "\n") != 1 ||
		!strings.Contains(err.Error(), "plugins/events-log/plugin.toml:10: compat.base: plugin events-log supports base versions >=3.10, <3.11, but the base oci-layout://base311:3.11.1 is version 3.11.1 (from the base's tag)") {
		t.Fatalf("lock on Gerrit 3.11.1: %v", err)
	}
}
