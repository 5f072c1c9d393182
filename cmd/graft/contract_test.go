package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/imagecontract"
)

// contractSite's launcher: two components served by one process, a required secret, a default.
const contractSite = `
[launcher]
[[launcher.setting]]
name = "db_url"
env = "APP_DB_URL"
required = true
secret = true

[[launcher.setting]]
name = "log_level"
env = "APP_LOG_LEVEL"
default = "info"

[[launcher.process]]
name = "app"
command = ["/app/run"]
components = ["web", "worker"]

[[launcher.component]]
name = "web"
port = 8080
health = "/health"

[[launcher.component]]
name = "worker"
port = 8081
`

// Release 3's case: a plugin adds a required secret and a component goes away. graft lock says
// so (the lock records the contract), graft build repeats what deployments must give, and
// graft inspect shows the image's contract.
func TestContractChangesAreReported(t *testing.T) {
	buildEnv(t)
	s := buildtest.NewSite(t, "oci-layout://base", contractSite)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	code, out, errOut := graft(t, "lock", "-C", s.Dir)
	if code != 0 || strings.Contains(out, "contract:") {
		t.Fatalf("first lock: exit %d\n%s%s", code, out, errOut)
	}
	lock, _ := os.ReadFile(filepath.Join(s.Dir, "graft.lock"))
	if !strings.Contains(string(lock), "[[contract.setting]]\nname = 'db_url'\nenv = 'APP_DB_URL'\nrequired = true\nsecret = true\n") {
		t.Fatalf("graft.lock does not record the contract:\n%s", lock)
	}

	s.WriteFile("plugins/alpha/plugin.toml", strings.Replace(readFile(t, filepath.Join(s.Dir, "plugins/alpha/plugin.toml")), "\n", "\n", 1)+
		"[launcher]\nsettings = [{ name = \"oauth_secret\", env = \"OAUTH_SECRET\", secret = true, required = true }]\n")
	site := readFile(t, filepath.Join(s.Dir, "graft.toml"))
	site = strings.Replace(site, `components = ["web", "worker"]`, `components = ["web"]`, 1)
	site = strings.Replace(site, "\n[[launcher.component]]\nname = \"worker\"\nport = 8081\n", "\n", 1)
	s.WriteFile("graft.toml", site)
	code, out, errOut = graft(t, "lock", "--changed", "-C", s.Dir)
	for _, want := range []string{
		"contract: new required secret setting oauth_secret (plugin alpha) (OAUTH_SECRET_FILE naming a secret, or OAUTH_SECRET): every service running the image must give it\n",
		"contract: component worker removed: a service selecting it (GRAFT_COMPONENTS, run worker) will not start\n",
		"contract: deployments that worked before may not start: check them with `graft check-deploy FILE`\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("lock --changed: exit %d, want %q\n%s%s", code, want, out, errOut)
		}
	}
	code, out, _ = graft(t, "lock", "--changed", "--json", "-C", s.Dir)
	if code != 0 || strings.Contains(out, "contract_changes") {
		t.Errorf("an unchanged contract is reported again:\n%s", out)
	}

	code, out, errOut = graft(t, "build", "-C", s.Dir, "--progress", "plain", "--output", "type=oci,dest=out/image")
	if want := "contract: components web; every service must give APP_DB_URL_FILE (secret), OAUTH_SECRET_FILE (secret)\n"; code != 0 || !strings.Contains(errOut, want) {
		t.Fatalf("build: exit %d, want %q\n%s%s", code, want, out, errOut)
	}

	img := "oci-layout://" + filepath.Join(s.Dir, "out/image")
	code, out, errOut = graft(t, "inspect", img)
	for _, want := range []string{
		"components 1\n  web  port 8080  health /health  process app\n",
		"settings  3\n  db_url        APP_DB_URL, APP_DB_URL_FILE        required, secret\n  log_level     APP_LOG_LEVEL, APP_LOG_LEVEL_FILE  default \"info\"\n  oauth_secret  OAUTH_SECRET, OAUTH_SECRET_FILE    required, secret\n",
		"health    CMD /usr/local/bin/graft-launcher healthcheck: every (engine default), timeout (engine default), start period (engine default), retries (engine default)\n",
		"stop      GRAFT_STOP_TIMEOUT 10s",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("inspect: exit %d, want %q\n%s%s", code, want, out, errOut)
		}
	}
	code, out, _ = graft(t, "inspect", "--json", img)
	var doc imagecontract.Report
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Platforms) != 1 {
		t.Fatalf("inspect --json: exit %d %v\n%s", code, err, out)
	}
	c := doc.Platforms[0].Contract
	if c == nil || len(c.Settings) != 3 || !c.Settings[2].MustGive() || !c.Settings[2].Secret || c.Components[0].Process != "app" ||
		c.StopTimeout != imagecontract.Duration(imagecontract.DefaultStopTimeout) {
		t.Fatalf("inspect --json contract: %+v", c)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
