// Package openlibrary holds no code: its test locks, builds and starts this site repository
// offline — the private olsystem repository from a git server on 127.0.0.1 that requires a token,
// a stand-in base with Open Library's layout — and loads each host's compose file with
// compose-go (the loader Docker Compose uses) to check it against the image's components.
package openlibrary

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/lockfile/gitremote"
	"github.com/graft-build/graft/plugins-example/examplekit"
)

const realBase = "docker.io/openlibrary/olbase:2024.11.28"

// standIn stands in for each service: it needs its olsystem configuration and the database
// password, then answers on its port.
const standIn = `#!/bin/sh
set -e
name=$1 port=$2 config=$3
test -f "$config" || { echo "$name: no $config (olsystem is not installed)" >&2; exit 1; }
test -n "$OL_DB_PASSWORD" || { echo "$name: no database password" >&2; exit 1; }
mkdir -p /tmp/$name
echo "$name ok: $(head -n1 "$config")" > /tmp/$name/status
cp /tmp/$name/status /tmp/$name/index.html
echo "$name serving on $port"
exec httpd -f -p "$port" -h /tmp/$name
`

// services are Open Library's start scripts: name, port, olsystem file.
var services = [][3]string{{"web", "8080", "etc/openlibrary.yml"}, {"covers", "7075", "etc/coverstore.yml"},
	{"infobase", "7000", "etc/infobase.yml"}, {"cron", "9746", "cron/crontab"}, {"importbot", "9747", "etc/openlibrary.yml"},
	{"solr-updater", "9748", "etc/openlibrary.yml"}}

func olBase() examplekit.Base {
	files := map[string]string{"/openlibrary/docker/stand-in.sh@x": standIn, "/openlibrary/openlibrary/code.py": "# Open Library"}
	for _, s := range services {
		files["/openlibrary/docker/ol-"+s[0]+"-start.sh@x"] = "#!/bin/sh\nexec /openlibrary/docker/stand-in.sh " + s[0] + " " + s[1] + " /opt/openlibrary/olsystem/" + s[2] + "\n"
	}
	return examplekit.Base{
		Applets: []string{"cp"},
		Users:   "openlibrary:x:999:999::/openlibrary:/bin/sh\n",
		Dirs: map[string]string{"/openlibrary": "999:999", "/openlibrary/docker": "0:0", "/openlibrary/openlibrary": "999:999",
			"/openlibrary/openlibrary/plugins": "999:999", "/opt": "0:0"},
		Files: files, User: "openlibrary", WorkingDir: "/openlibrary", Tag: "2024.11.28",
	}
}

// TestOpenLibrarySite: olsystem, a private repository, lands at /opt/openlibrary/olsystem; one
// image serves the web host's and the home host's components, each selected by its compose
// command; the compose files name only components the image has and together run them all.
func TestOpenLibrarySite(t *testing.T) {
	examplekit.Isolate(t)
	repos := t.TempDir()
	srv := gittest.NewServer(t, repos, gittest.WithBasicAuth("openlibrary/olsystem.git", "deploy", "olsystem-token"))
	t.Setenv(gitremote.HostTokenVar(strings.TrimPrefix(srv.URL, "http://")), "deploy:olsystem-token")
	ol := gittest.NewRepo(t, repos, "openlibrary/olsystem.git")
	ol.Write(map[string]string{"etc/openlibrary.yml": "# openlibrary.yml (production)\n", "etc/infobase.yml": "# infobase.yml\n",
		"etc/coverstore.yml": "# coverstore.yml\n", "cron/crontab": "# crontab\n0 * * * * /openlibrary/scripts/update-loans.py\n"})
	olsystem := ol.Commit("production configuration")
	dir := examplekit.CopySite(t, realBase, "oci-layout://base:2024.11.28",
		map[string]string{"https://git.example.org/openlibrary/": srv.URL + "/openlibrary/"}, "deploy")
	examplekit.WriteBase(t, filepath.Join(dir, "base"), olBase())

	p := examplekit.MustLock(t, dir)
	if pk := p.PluginLock("olsystem"); pk.Commit != olsystem || pk.Dest != "/opt/openlibrary/olsystem" || pk.Git != "https://git.example.org/openlibrary/olsystem.git" {
		t.Fatalf("olsystem locked as %+v", pk)
	}
	res := examplekit.Build(t, p)
	files := buildtest.ImageFiles(t, res.Image)
	if files["/opt/openlibrary/olsystem/etc/openlibrary.yml"] != "# openlibrary.yml (production)\n" {
		t.Errorf("olsystem in the image: %q", files["/opt/openlibrary/olsystem/etc/openlibrary.yml"])
	}
	conf, err := builder.MergeLauncherConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	var components []string
	for _, c := range conf.Components {
		components = append(components, c.Name)
	}
	commands := checkCompose(t, dir, components)

	if examplekit.HasDocker(t) {
		tag := examplekit.Load(t, res.Image, "graft-openlibrary")
		args := []string{"-e", "OL_DB_PASSWORD=db-pass"}
		web := examplekit.Start(t, tag, args, commands["web"]...)
		if got := examplekit.MustDocker(t, "exec", web, "wget", "-qO-", "http://127.0.0.1:8080/status"); got != "web ok: # openlibrary.yml (production)" {
			t.Errorf("web answers %q", got)
		}
		if _, err := examplekit.Docker(t, "exec", web, "wget", "-qO-", "http://127.0.0.1:7000/"); err == nil {
			t.Error("the web container serves infobase too")
		}
		// The home host's services, each in its container as compose runs them; one container
		// here serving them all shows the image starts every one.
		home := examplekit.Start(t, tag, args, "run", "infobase", "cron-jobs", "importbot", "solr-updater")
		logs := examplekit.MustDocker(t, "logs", home)
		for _, s := range []string{"infobase serving on 7000", "cron serving on 9746", "importbot serving on 9747", "solr-updater serving on 9748"} {
			if !strings.Contains(logs, s) {
				t.Errorf("the home container's logs lack %q:\n%s", s, logs)
			}
		}
	}
}

// checkCompose loads every host's compose file and checks that each service runs components of
// the image, that every component runs on some host, and that each service has an image
// variable of its own (so it can be rolled back alone). It returns each service's command.
func checkCompose(t *testing.T, dir string, components []string) map[string][]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "deploy", "*.yaml"))
	if len(files) != 3 {
		t.Fatalf("compose files: %v", files)
	}
	commands, images := map[string][]string{}, map[string]string{}
	served := map[string]bool{}
	for _, file := range files {
		opts, err := cli.NewProjectOptions([]string{file}, cli.WithName("ol"), cli.WithWorkingDirectory(filepath.Dir(file)),
			cli.WithEnv([]string{"SECRETS_DIR=/run/ol-secrets", "OL_WEB_IMAGE=web:1", "OL_COVERS_IMAGE=covers:1", "OL_INFOBASE_IMAGE=infobase:1",
				"OL_CRON_IMAGE=cron:1", "OL_IMPORTBOT_IMAGE=importbot:1", "OL_SOLR_UPDATER_IMAGE=solr-updater:1"}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		proj, err := opts.LoadProject(ctx)
		cancel()
		if err != nil {
			t.Fatalf("compose-go: %s: %v", file, err)
		}
		raw, _ := filepath.Rel(dir, file)
		for name, svc := range proj.Services {
			cmd := []string(svc.Command)
			if len(cmd) < 2 || cmd[0] != "run" {
				t.Errorf("%s: service %s: command %v, want [run COMPONENT...]", raw, name, cmd)
				continue
			}
			for _, c := range cmd[1:] {
				if !slices.Contains(components, c) {
					t.Errorf("%s: service %s runs component %q, which the image does not have (%v)", raw, name, c, components)
				}
				served[c] = true
			}
			if svc.Environment["OL_DB_PASSWORD_FILE"] == nil || len(svc.Secrets) == 0 {
				t.Errorf("%s: service %s gets no database password file", raw, name)
			}
			commands[name] = cmd
			if other, dup := images[svc.Image]; dup {
				t.Errorf("services %s and %s share image variable %s: one cannot be rolled back without the other", other, name, svc.Image)
			}
			images[svc.Image] = name
		}
	}
	for _, c := range components {
		if !served[c] {
			t.Errorf("component %s runs on no host", c)
		}
	}
	return commands
}
