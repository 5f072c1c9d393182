// Package jvm holds no code: its test locks, builds and starts this site repository offline: the
// service JAR from a Maven repository and the static site from a CI server, both served on
// 127.0.0.1 in place of maven.example.org and ci.example.org, its versions listed by a git
// repository in place of git.example.org, on a stand-in base with a JRE's and nginx's layout.
package jvm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/artifacttest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/plugins-example/examplekit"
)

const realBase = "registry.example.org/platform/jre-nginx:21"

// java stands in for `java -jar JAR --spring.config.location=FILE`: it checks the JAR and the
// rendered configuration and serves the actuator's health on 8081.
const java = `#!/bin/sh
set -e
test "$1" = "-jar"
grep -q "portal-service 2.3.1" "$2"
cfg="${3#--spring.config.location=}"
grep -q "^spring.datasource.password=." "$cfg"
mkdir -p /tmp/api/actuator
echo '{"status":"UP"}' > /tmp/api/actuator/health
echo "Started PortalApplication"
exec httpd -f -p 8081 -h /tmp/api
`

// nginx stands in for nginx serving /var/www/html on 8080.
const nginx = "#!/bin/sh\nexec httpd -f -p 8080 -h /var/www/html\n"

func jvmBase() examplekit.Base {
	return examplekit.Base{
		Users: "portal:x:1000:1000::/opt/app:/bin/sh\n",
		Dirs: map[string]string{"/opt/app": "1000:1000", "/opt/app/config": "1000:1000", "/var/www": "0:0", "/var/www/html": "0:0",
			"/etc/portal": "0:0", "/usr/local/bin": "0:0"},
		Files: map[string]string{"/usr/local/bin/java@x": java, "/usr/local/bin/nginx@x": nginx,
			"/var/www/html/index.nginx-debian.html":   "<h1>Welcome to nginx!</h1>",
			"/etc/portal/application.properties.tmpl": "server.port=8081\nspring.datasource.password={{ .Settings.db_password }}\n"},
		User: "portal", WorkingDir: "/opt/app", Tag: "21",
	}
}

func siteArchive(t *testing.T, version string) []byte {
	top := "portal-site-" + version + "/"
	return artifacttest.TarGz(t, map[string]artifacttest.File{
		top + "index.html": {Body: "<h1>Portal " + version + "</h1>"}, top + "assets/app.js": {Body: "boot()"}})
}

// TestJVMSite: the JAR lands at /opt/app/service.jar, the site replaces the base's default page
// in /var/www/html (none of the base's files stay), both processes start healthy; outdated lists
// the site's newer release from its tags; --override builds the site from a working folder.
func TestJVMSite(t *testing.T) {
	examplekit.Isolate(t)
	srv := artifacttest.NewServer(t, "", "")
	m := artifacttest.NewMaven(srv)
	m.Publish("org.example.portal", "portal-service", "2.3.1", "", "", []byte("portal-service 2.3.1 (fat jar)"), "sha1")
	srv.Put("/artifacts/portal-site/portal-site-1.4.0.tar.gz", siteArchive(t, "1.4.0"))
	git := t.TempDir()
	tags := gittest.NewRepo(t, git, "portal-site.git")
	tags.Write(map[string]string{"index.html": "1.4.0"})
	tags.Commit("release 1.4.0")
	tags.Tag("v1.4.0")
	dir := examplekit.CopySite(t, realBase, "oci-layout://base:21", map[string]string{
		"https://maven.example.org/releases": m.Root, "https://ci.example.org/": srv.URL + "/", "https://git.example.org/web/": "file://" + git + "/"})
	examplekit.WriteBase(t, filepath.Join(dir, "base"), jvmBase())

	p := examplekit.MustLock(t, dir)
	if site := p.PluginLock("portal-site"); site.Version != "1.4.0" || site.Dest != "/var/www/html" ||
		site.URL != "https://ci.example.org/artifacts/portal-site/portal-site-1.4.0.tar.gz" {
		t.Fatalf("portal-site locked as %+v", site)
	}
	res := examplekit.Build(t, p)
	files := buildtest.ImageFiles(t, res.Image)
	for path, want := range map[string]string{"/opt/app/service.jar": "portal-service 2.3.1 (fat jar)",
		"/var/www/html/index.html": "<h1>Portal 1.4.0</h1>", "/var/www/html/assets/app.js": "boot()", "/var/www/html/.wh..wh..opq": ""} {
		if got, ok := files[path]; !ok || got != want {
			t.Errorf("%s = %q (present %v), want %q", path, got, ok, want)
		}
	}
	if examplekit.HasDocker(t) {
		secret := filepath.Join(t.TempDir(), "db_password")
		os.WriteFile(secret, []byte("db-pass\n"), 0o644)
		tag := examplekit.Load(t, res.Image, "graft-jvm")
		name := examplekit.Start(t, tag, []string{"-e", "PORTAL_DB_PASSWORD_FILE=/run/secrets/db_password", "-v", secret + ":/run/secrets/db_password:ro"})
		if page := examplekit.MustDocker(t, "exec", name, "wget", "-qO-", "http://127.0.0.1:8080/index.html"); page != "<h1>Portal 1.4.0</h1>" {
			t.Errorf("nginx serves %q", page)
		}
		if health := examplekit.MustDocker(t, "exec", name, "wget", "-qO-", "http://127.0.0.1:8081/actuator/health"); health != `{"status":"UP"}` {
			t.Errorf("the service answers %q", health)
		}
		if out, err := examplekit.Docker(t, "exec", name, "test", "-e", "/var/www/html/index.nginx-debian.html"); err == nil {
			t.Errorf("the base's default page is still there (%s)", out)
		}
	}

	// A new release of the site: outdated lists it from the repository's tags.
	tags.Write(map[string]string{"index.html": "1.5.0"})
	tags.Commit("release 1.5.0")
	tags.Tag("v1.5.0")
	list, err := p.Outdated(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list {
		if o.Plugin == "portal-site" && (len(o.NewerVersions) != 1 || o.NewerVersions[0] != "1.5.0") {
			t.Errorf("outdated portal-site: %+v", o)
		}
	}

	// The front-end developer's loop: the site from a working folder, unlocked.
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "index.html"), []byte("<h1>work in progress</h1>"), 0o644)
	dev := examplekit.Build(t, p, builder.WithOverrides(map[string]string{"portal-site": work}))
	cf, _ := dev.Image.ConfigFile()
	if got := buildtest.ImageFiles(t, dev.Image)["/var/www/html/index.html"]; got != "<h1>work in progress</h1>" || cf.Config.Labels["org.graft.unlocked"] != "portal-site" {
		t.Errorf("override: index.html %q, unlocked label %q", got, cf.Config.Labels["org.graft.unlocked"])
	}
}
