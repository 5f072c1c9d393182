package lockfile

import (
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/internal/tomldecode"
)

func TestParsePluginValid(t *testing.T) {
	data := []byte(`[source]
git = "https://github.com/lyrasis/aspace-oauth.git"
ref = "v3.5.0"
path = "plugin"

[build]
run = ["scripts/initialize-plugin.sh aspace-oauth"]
env = { RAILS_ENV = "production" }
secret = [{ id = "gem_token", env = "GEM_TOKEN" }]

[config]
snippet = '''
AppConfig[:x] = 1
'''

[launcher]
hooks = ["hooks/on-start.sh"]
settings = [{ name = "oauth_shared_secret", env = "APPCONFIG_OAUTH_SHARED_SECRET", secret = true, required = true }]

[[launcher.template]]
src = "templates/oauth.yml.tmpl"
dest = "/archivesspace/config/oauth.yml"
`)
	pl, err := ParsePlugin("plugin.toml", "aspace-oauth", data)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Name != "aspace-oauth" || pl.Source.Path != "plugin" || pl.Build.Secrets[0].ID != "gem_token" ||
		!pl.Launcher.Settings[0].Secret || pl.Config.Snippet != "AppConfig[:x] = 1\n" ||
		len(pl.Launcher.Templates) != 1 || pl.Launcher.Templates[0] != (PluginTemplate{Src: "templates/oauth.yml.tmpl", Dest: "/archivesspace/config/oauth.yml"}) {
		t.Errorf("parsed %+v", pl)
	}
}

func TestParsePluginErrors(t *testing.T) {
	cases := []struct {
		name, folder, data string
		want               []string // substrings, each expected on its own line
	}{
		{"unknown key", "p", "[source]\ngit = \"x\"\nref = \"main\"\nbranch = \"main\"\n",
			[]string{"f:4: source.branch: unknown key"}},
		{"wrong type", "p", "[source]\ngit = 3\nref = \"main\"\n", []string{"f:2: source.git:"}},
		{"missing source", "p", "", []string{"f: source.git: missing", "f: source.ref: missing"}},
		{"missing ref", "p", "\n[source]\ngit = \"https://h/r.git\"\n", []string{"f:2: source.ref: missing"}},
		{"dotdot path", "p", "[source]\ngit = \"a\"\nref = \"b\"\npath = \"x/../../y\"\n", []string{"f:4: source.path: \"x/../../y\" leaves the repository"}},
		{"abs path", "p", "[source]\ngit = \"a\"\nref = \"b\"\npath = \"/etc\"\n", []string{"f:4: source.path: \"/etc\" is absolute"}},
		{"unclean path", "p", "[source]\ngit = \"a\"\nref = \"b\"\npath = \"a//b/\"\n", []string{"f:4: source.path: \"a//b/\" is not a clean path (write \"a/b\")"}},
		{"bad ref", "p", "[source]\ngit = \"a\"\nref = \"a b\"\n", []string{"f:3: source.ref: \"a b\" is not a valid git ref name"}},
		{"bad scheme", "p", "[source]\ngit = \"ftp://h/r\"\nref = \"b\"\n", []string{"f:2: source.git: \"ftp://h/r\": scheme \"ftp\" is not supported"}},
		{"credentials hidden", "p", "[source]\ngit = \"ftp://me:hunter2@h/r\"\nref = \"b\"\n", []string{"\"ftp://h/r\""}},
		{"bad folder", "Aspace", "[source]\ngit = \"a\"\nref = \"b\"\n", []string{"f: plugin folder name \"Aspace\" is not allowed; rename the folder"}},
		{"hook escapes", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[launcher]\nhooks = [\"../x.sh\", \"ok.sh\"]\n", []string{"f:5: launcher.hooks: \"../x.sh\" leaves"}},
		{"setting", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[launcher]\nsettings = [{ name = \"s\", env = \"1BAD\" }, { name = \"s\", env = \"OK\", secret = true, default = \"d\" }]\n",
			[]string{"f:5: launcher.settings: setting \"s\": env \"1BAD\" is not", "setting \"s\" is declared twice", "setting \"s\" is secret but has a default"}},
		{"template src escapes", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[launcher.template]]\nsrc = \"../x.tmpl\"\ndest = \"/app/x\"\n",
			[]string{"f:5: launcher.template.src: \"../x.tmpl\" leaves the repository (\"..\"); give a path relative to the plugin folder"}},
		{"template src absolute", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[launcher.template]]\nsrc = \"/etc/x\"\ndest = \"/app/x\"\n",
			[]string{"f:5: launcher.template.src: \"/etc/x\" is absolute"}},
		{"template dest relative", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[launcher.template]]\nsrc = \"x\"\ndest = \"app/x\"\n",
			[]string{"f:6: launcher.template.dest: \"app/x\" is not absolute"}},
		{"template keys missing", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[launcher.template]]\nsrc = \"x\"\ndest = \"/a\"\n\n[[launcher.template]]\n",
			[]string{"f:8: launcher.template.src: template #2 has no src", "f:8: launcher.template.dest: template #2 has no dest"}},
		{"template dest twice", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[launcher.template]]\nsrc = \"x\"\ndest = \"/a\"\n[[launcher.template]] # again\nsrc = \"y\"\ndest = \"/a\"\n",
			[]string{"f:9: launcher.template.dest: \"/a\" is the dest of another template too"}},
		{"template unknown key", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[launcher.template]]\nsrc = \"x\"\ndst = \"/a\"\n",
			[]string{"f:6: launcher.template.dst: unknown key"}},
		{"template wrong type", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[launcher]\ntemplate = \"x.tmpl\"\n",
			[]string{"f:5: launcher.template:"}},
		{"secret", "p", "[source]\ngit = \"a\"\nref = \"b\"\n[[build.secret]]\nid = \"t\"\n", []string{"f:4: build.secret: secret \"t\" needs exactly one of env"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePlugin("f", c.folder, []byte(c.data))
			if err == nil {
				t.Fatal("no error")
			}
			assertFormatError(t, err)
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "hunter2") || strings.Contains(msg, "me:") {
				t.Errorf("credentials in message: %s", msg)
			}
		})
	}
}

func TestParseSiteErrors(t *testing.T) {
	data := []byte(`base = "oci-layout://"
plugins_dir = "/app/plugins/"
owner = "1000"
platforms = ["linux"]

[[mirror]]
prefix = "https://github.com/"

[launcher]
tmp_dir = "/tmp/app"

[[launcher.component]]
name = "web"
port = 70000
`)
	_, err := ParseSite("graft.toml", data)
	if err == nil {
		t.Fatal("no error")
	}
	assertFormatError(t, err)
	for _, w := range []string{
		"graft.toml:1: base: image oci-layout://: no folder",
		"graft.toml:2: plugins_dir: \"/app/plugins/\" is not a clean path; write \"/app/plugins\"",
		"graft.toml:3: owner: \"1000\" is not numeric uid:gid",
		"graft.toml:4: platforms: \"linux\" is not os/arch",
		"graft.toml:6: mirror: [[mirror]] #1 needs both prefix and url",
		"graft.toml:12: launcher.component: component \"web\" has port 70000",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%s", w, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 6 {
		t.Errorf("want 6 lines, got %d:\n%s", n, err)
	}
}

func TestParseSiteTemplateDestTwice(t *testing.T) {
	_, err := ParseSite("graft.toml", []byte(`base = "r.example/a:1"
plugins_dir = "/p"

[[launcher.template]]
src = "/etc/graft/a.tmpl"
dest = "/app/config.rb"

[[launcher.template]]
src = "/etc/graft/b.tmpl"
dest = "/app/config.rb"
`))
	want := `graft.toml:10: launcher.template.dest: "/app/config.rb" is the dest of another template too`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	assertFormatError(t, err)
}

func TestParseSiteHealthcheck(t *testing.T) {
	s, err := ParseSite("graft.toml", []byte(`base = "r.example/a:1"
plugins_dir = "/p"

[healthcheck]
interval = "10s"
start_period = "1m30s"
retries = 5
`))
	if err != nil {
		t.Fatal(err)
	}
	iv, to, sp := s.Healthcheck.Durations()
	if iv != 10*time.Second || to != 0 || sp != 90*time.Second || s.Healthcheck.Retries != 5 {
		t.Errorf("durations %v %v %v retries %d", iv, to, sp, s.Healthcheck.Retries)
	}
	_, err = ParseSite("graft.toml", []byte(`base = "r.example/a:1"
plugins_dir = "/p"

[healthcheck]
interval = "10"
timeout = "0s"
retries = -1
`))
	assertFormatError(t, err)
	for _, w := range []string{
		`graft.toml:5: healthcheck.interval: "10" is not a duration of at least 1ms`,
		`graft.toml:6: healthcheck.timeout: "0s" is not a duration`,
		`graft.toml:7: healthcheck.retries: -1 is negative`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestParseSiteValid(t *testing.T) {
	s, err := ParseSite("graft.toml", []byte(`base = "registry.example.org/archivesspace/archivesspace:4.1.1"
name = "registry.example.org/lib/aspace"
plugins_dir = "/archivesspace/plugins"
owner = "1000:1000"
platforms = ["linux/amd64", "linux/arm64/v8"]

[[mirror]]
prefix = "https://github.com/"
url = "https://git.internal.example/github/"

[launcher]
tmp_dir = "/archivesspace/data/tmp"
port_dir = "/run/graft/ports"
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Launcher.TmpDir != "/archivesspace/data/tmp" || s.Mirrors[0].URL != "https://git.internal.example/github/" {
		t.Errorf("parsed %+v", s)
	}
}

// assertFormatError checks that err is one of the file-format error types, one line each.
func assertFormatError(t *testing.T, err error) {
	t.Helper()
	var one *tomldecode.Error
	var many tomldecode.Errors
	if !errors.As(err, &one) && !errors.As(err, &many) {
		t.Fatalf("error %T is not a tomldecode error: %v", err, err)
	}
}

func FuzzParsePlugin(f *testing.F) {
	f.Add([]byte("[source]\ngit = \"https://h/r.git\"\nref = \"v1\"\npath = \"a/b\"\n[launcher]\nhooks = [\"h.sh\"]\n"))
	f.Add([]byte("[source]\ngit = \"../x\"\nref = \"main\"\n[[build.secret]]\nid = \"a\"\nenv = \"B\"\n"))
	f.Add([]byte("[launcher]\nsettings = [{ name = \"a\", env = \"B\" }]\n"))
	f.Add([]byte("a = [\n"))
	f.Add([]byte("[[launcher.template]]\nsrc = \"t/x.tmpl\"\ndest = \"/a/x\"\n[[launcher.template]]\nsrc = \"../y\"\ndest = \"a\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := ParsePlugin("plugin.toml", "p", data)
		if err != nil {
			assertFormatError(t, err)
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "plugin.toml") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		if pl.Source.Git == "" || pl.Source.Ref == "" || checkRelPath(pl.Source.Path) != "" {
			t.Fatalf("accepted an invalid plugin: %+v", pl)
		}
		for _, tm := range pl.Launcher.Templates {
			if tm.Src == "" || checkRelPath(tm.Src) != "" || !path.IsAbs(tm.Dest) {
				t.Fatalf("accepted an invalid template: %+v", tm)
			}
		}
	})
}

func FuzzParseSite(f *testing.F) {
	f.Add([]byte("base = \"r.example/a:1\"\nplugins_dir = \"/p\"\nowner = \"1:2\"\n[[mirror]]\nprefix = \"a\"\nurl = \"b\"\n"))
	f.Add([]byte("base = \"oci-layout://x@sha256:00\"\nplugins_dir = \"/p\"\n[launcher]\n[[launcher.component]]\nname = \"a\"\nport = 1\n"))
	f.Add([]byte("[[launcher.process]]\nname = \"a\"\ncomponents = [\"x\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSite("graft.toml", data)
		if err != nil {
			assertFormatError(t, err)
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "graft.toml") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		if s.Base == "" || s.PluginsDir == "" || (s.Owner != "" && !validOwner(s.Owner)) {
			t.Fatalf("accepted an invalid site: %+v", s)
		}
	})
}

// graft.toml's [launcher] tmp_dir and port_dir must be absolute folders other than the root:
// a relative one resolved against the container's working directory emptied / once.
func TestParseSiteLauncherDirs(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"tmp_dir = \"..\"\n", `graft.toml:5: launcher.tmp_dir: tmp_dir ".." is not absolute`},
		{"tmp_dir = \"/app/..\"\n", `graft.toml:5: launcher.tmp_dir: tmp_dir "/app/.." is the filesystem root`},
		{"port_dir = \"run/ports\"\n", `graft.toml:5: launcher.port_dir: port_dir "run/ports" is not absolute`},
		{"plugins_dir = \"/elsewhere\"\n", `graft.toml:5: launcher.plugins_dir: is set by graft build`},
	} {
		data := []byte("base = \"oci-layout://base\"\nplugins_dir = \"/app/plugins\"\n\n[launcher]\n" + c.body)
		_, err := ParseSite("graft.toml", data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.body, err, c.want)
		}
	}
}

func TestParsePluginConfigTargets(t *testing.T) {
	ok := "[source]\ngit = \"a\"\nref = \"b\"\n[config]\nsnippet = \"x\"\n[config.targets]\n\"launcher_rc.rb\" = \"y\"\n"
	pl, err := ParsePlugin("f", "p", []byte(ok))
	if err != nil || pl.Config.Targets["launcher_rc.rb"] != "y" {
		t.Fatalf("%+v %v", pl, err)
	}
	bad := "[source]\ngit = \"a\"\nref = \"b\"\n[config.targets]\n\"../rc\" = \"y\"\n\"empty\" = \"\"\n"
	_, err = ParsePlugin("f", "p", []byte(bad))
	for _, w := range []string{`f:4: config.targets: target "../rc" is not a valid name`, `target "empty" has empty text`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
}
