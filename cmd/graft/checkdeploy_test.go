package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
)

const aspaceSite = "../../plugins-example/archivesspace"

// The ArchivesSpace stack passes against its site; without the oauth secret it fails (exit 1)
// naming service, components and setting; unreadable files and images exit 2.
func TestCheckDeployExitCodes(t *testing.T) {
	stack := filepath.Join(aspaceSite, "deploy/stack.yml")
	code, out, errOut := graft(t, "check-deploy", "-C", aspaceSite, stack)
	if want := stack + ": 5 services checked against graft.toml (backend, frontend, indexer, migrate, public): each gives what the image needs\n"; code != 0 || out != want {
		t.Fatalf("exit %d\n%q\nwant %q\n%s", code, out, want, errOut)
	}
	data, _ := os.ReadFile(stack)
	broken := filepath.Join(t.TempDir(), "stack.yml")
	os.WriteFile(broken, []byte(strings.Replace(string(data), "  ASPACE_OAUTH_SHARED_SECRET_FILE: /run/secrets/oauth_shared_secret\n", "", 1)), 0o644)
	code, out, _ = graft(t, "check-deploy", "-C", aspaceSite, broken)
	want := broken + ": service frontend (frontend): required secret setting oauth_shared_secret is not given: set ASPACE_OAUTH_SHARED_SECRET_FILE to a secret the service mounts (or ASPACE_OAUTH_SHARED_SECRET)\n"
	if code != 1 || !strings.Contains(out, want) || !strings.HasSuffix(out, "5 problems: fix them before deploying\n") {
		t.Fatalf("exit %d, want 1 and %q\n%s", code, want, out)
	}
	code, out, _ = graft(t, "check-deploy", "-C", aspaceSite, "--json", broken)
	if code != 1 || !strings.Contains(out, `"setting": "oauth_shared_secret"`) || !strings.Contains(out, `"ok": false`) {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"missing.yml"}, "missing.yml: cannot read it (no such file or directory)"},
		{[]string{"-C", aspaceSite, stack, "--service", "nope"}, "--service nope: no such service; the files have: backend, db, frontend, indexer, migrate, public, solr"},
		{[]string{"-C", aspaceSite, stack, "oci-layout://" + t.TempDir()}, "index.json missing"},
		{[]string{"-C", aspaceSite}, "no deploy file given"},
	} {
		code, _, errOut := graft(t, append([]string{"check-deploy"}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q: %s", c.args, code, c.want, errOut)
		}
	}
}

// Against a built image: its own launcher.toml is the contract, and the services are those
// running the site's named image.
func TestCheckDeployAgainstAnImage(t *testing.T) {
	buildEnv(t)
	s := buildtest.NewSite(t, "oci-layout://base", contractSite)
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Lock()
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--output", "type=oci,dest=out/image"); code != 0 {
		t.Fatalf("build: exit %d %s", code, errOut)
	}
	img := "oci-layout://" + filepath.Join(s.Dir, "out/image")
	compose := filepath.Join(t.TempDir(), "compose.yaml")
	os.WriteFile(compose, []byte(`services:
  web:
    image: registry.test/lib/app:v1
    environment:
      GRAFT_COMPONENTS: web
      GRAFT_STOP_TIMEOUT: 20s
      APP_DB_URL_FILE: /run/secrets/db_url
    secrets: [db_url]
    stop_grace_period: 30s
  worker:
    image: registry.test/lib/app:v1
    command: ["run", "worker", "mailer"]
  db:
    image: postgres:16
secrets:
  db_url:
    file: ./db_url
`), 0o644)
	code, out, errOut := graft(t, "check-deploy", "-C", s.Dir, compose, img)
	for _, want := range []string{
		compose + `: service worker (worker, mailer): component "mailer" is not in the image (it has: web, worker): the launcher refuses to start` + "\n",
		compose + ": service worker (worker, mailer): required secret setting db_url is not given: set APP_DB_URL_FILE to a secret the service mounts (or APP_DB_URL)\n",
		compose + ": 2 services checked against " + img + " (web, worker): 2 problems: fix them before deploying\n",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, want 1 and %q\n%s%s", code, want, out, errOut)
		}
	}
}
