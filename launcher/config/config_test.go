package config

import (
	"strings"
	"testing"
)

const example = `
tmp_dir = "/app/data/tmp"
port_dir = "/run/graft/ports"

[[setting]]
name = "db_url"
env = "APP_DB_URL"
required = true
secret = true

[[template]]
src = "/etc/graft/templates/config.rb.tmpl"
dest = "/app/config/config.rb"

[[snippet]]
plugin = "aspace-oauth"
text = "AppConfig[:x] = 1"

[[hook]]
name = "aspace-oauth"
run = ["/app/plugins/aspace-oauth/hooks/on-start.sh"]
env = { MODE = "start" }

[[process]]
name = "app"
command = ["/app/bin/server"]
components = ["backend", "frontend"]
env = { JAVA_OPTS = "-Xmx2g" }
user = "1000:1001"

[[component]]
name = "backend"
port = 8089
health = "/health"

[[component]]
name = "frontend"
port = 8080
`

func TestParseExampleRoundTrips(t *testing.T) {
	c, err := Parse("launcher.toml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if c.Processes[0].Env["JAVA_OPTS"] != "-Xmx2g" || c.Hooks[0].Env["MODE"] != "start" || c.Processes[0].User != "1000:1001" {
		t.Fatalf("parsed: %+v", c)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again.toml", out)
	if err != nil {
		t.Fatalf("re-parse of marshalled config: %v\n%s", err, out)
	}
	out2, _ := again.Marshal()
	if string(out) != string(out2) {
		t.Fatalf("marshal not stable:\n%s\n---\n%s", out, out2)
	}
}

func TestValidateErrorsNameFileLineKey(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[[component]]\nname = \"a\"\nport = 0\n", `x.toml:1: component: component "a" has port 0`},
		{"[[process]]\nname = \"p\"\ncommand = [\"x\"]\ncomponents = [\"nope\"]\n", `serves component "nope", which no [[component]] declares`},
		{"[[process]]\nname = \"p\"\ncommand = [\"x\"]\nuser = \"app\"\n", `user "app": give a numeric uid or uid:gid`},
		{"[[hook]]\nrun = [\"x\"]\n", `hook #1 has no name`},
		{"[[setting]]\nenv = \"A\"\n", `x.toml:1: setting: setting #1 has no name; add name = "..."`},
		{"[[setting]]\nname = \"a\"\nenv = \"A\"\n[[setting]]\nname = \"a\"\nenv = \"B\"\n", `setting "a" is declared twice; keep one`},
		{"[[component]]\nport = 80\n", `component: component #1 has no name`},
		{"[[component]]\nname = \"c\"\nport = 80\n[[component]]\nname = \"c\"\nport = 81\n", `component "c" is declared twice; keep one`},
		{"bogus = 1\n", `x.toml:1: bogus: unknown key`},
	} {
		_, err := Parse("x.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestParseUser(t *testing.T) {
	if u, g, err := ParseUser("1000"); err != nil || u != 1000 || g != 1000 {
		t.Fatalf("1000 -> %d %d %v", u, g, err)
	}
	if u, g, err := ParseUser("1:2"); err != nil || u != 1 || g != 2 {
		t.Fatalf("1:2 -> %d %d %v", u, g, err)
	}
	if _, _, err := ParseUser("1:x"); err == nil {
		t.Fatal("1:x accepted")
	}
}

// FuzzParse: any input gives a config or one-line-per-problem errors naming the file; never a
// panic; an accepted config survives Marshal and Parse again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("[[component]]\nname = \"a\"\nport = 1\n"))
	f.Add([]byte("tmp_dir = 1\n"))
	f.Add([]byte("[[process]]\nname=\"\"\ncommand=[]\ncomponents=[\"a\",\"a\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.toml") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		if _, err := Parse("again.toml", out); err != nil {
			t.Fatalf("marshalled config rejected: %v\n%s", err, out)
		}
	})
}
