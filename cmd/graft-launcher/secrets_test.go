package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const secretValue = "s3cr3t-Value-42"

type secretSetup struct {
	dir, cfg, secretFile, rendered, envDump string
	port, health                            int
}

func newSecretSetup(t *testing.T, hook string) secretSetup {
	t.Helper()
	s := secretSetup{dir: t.TempDir(), port: freePort(t), health: freePort(t)}
	s.secretFile = filepath.Join(s.dir, "db_password")
	s.rendered = filepath.Join(s.dir, "app", "config.rb")
	s.envDump = filepath.Join(s.dir, "env.txt")
	tmpl := filepath.Join(s.dir, "config.rb.tmpl")
	must(t, os.WriteFile(s.secretFile, []byte(secretValue+"\n"), 0o600))
	must(t, os.WriteFile(tmpl, []byte("AppConfig[:db_password] = {{squote .Settings.db_password}}\nAppConfig[:title] = {{squote .Settings.title}}\n{{range .Snippets}}{{.Text}}\n{{end}}"), 0o644))
	s.cfg = writeConfig(t, s.dir, fmt.Sprintf(`port_dir = %q
tmp_dir = %q

[[setting]]
name = "db_password"
env = "APP_DB_PASSWORD"
required = true

[[setting]]
name = "title"
env = "APP_TITLE"
default = "Archives"

[[template]]
src = %q
dest = %q

[[snippet]]
plugin = "oauth"
text = "AppConfig[:oauth] = true"

%s
[[process]]
name = "app"
command = ["sh", "-c", "env > %s; exec \"$0\"", %q]
components = ["backend"]
env = { %s = "serve", SERVE_PORTS = "%d" }

[[component]]
name = "backend"
port = %d
health = "/health"
`, filepath.Join(s.dir, "ports"), filepath.Join(s.dir, "tmp"), tmpl, s.rendered, hook, s.envDump, os.Args[0], childEnv, s.port, s.port))
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, secretValue) {
		t.Errorf("secret printed in %s:\n%s", where, text)
	}
}

// The secret reaches the rendered file and the app's environment, and no printed output.
func TestSecretsNeverPrinted(t *testing.T) {
	s := newSecretSetup(t, "")
	e := env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile)

	cmd := exec.Command(launcherBin, "config")
	cmd.Env = e
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	assertNoSecret(t, "config output", string(out))
	if !strings.Contains(string(out), `db_password = "***"  # from APP_DB_PASSWORD_FILE, secret`) ||
		!strings.Contains(string(out), `title = "Archives"  # default`) {
		t.Fatalf("config output:\n%s", out)
	}

	p := startLauncher(t, append(e, "GRAFT_SHOW_CONFIG=true", fmt.Sprintf("GRAFT_HEALTH_ADDR=127.0.0.1:%d", s.health)), "run")
	waitFor(t, 10*time.Second, "ready", func() bool { return strings.Contains(p.stderr.String(), "ready: backend") })
	if !strings.Contains(p.stderr.String(), `db_password = "***"`) {
		t.Fatalf("GRAFT_SHOW_CONFIG did not log the config:\n%s", p.stderr)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", s.health)
	for _, path := range []string{"/livez", "/readyz", "/startupz"} {
		_, body := get(t, base+path)
		assertNoSecret(t, path, body)
		if strings.Contains(body, fmt.Sprint(s.port)) || strings.Contains(body, "/health") {
			t.Errorf("%s shows configuration values: %s", path, body)
		}
	}
	_, hc := healthcheck(t, e)
	assertNoSecret(t, "healthcheck", hc)

	rendered, err := os.ReadFile(s.rendered)
	must(t, err)
	if string(rendered) != "AppConfig[:db_password] = '"+secretValue+"'\nAppConfig[:title] = 'Archives'\nAppConfig[:oauth] = true\n" {
		t.Fatalf("rendered:\n%s", rendered)
	}
	if fi, _ := os.Stat(s.rendered); fi.Mode().Perm() != 0o600 {
		t.Fatalf("rendered file holding a secret has mode %v, want 0600", fi.Mode().Perm())
	}
	dump, err := os.ReadFile(s.envDump)
	must(t, err)
	if !strings.Contains(string(dump), "APP_DB_PASSWORD="+secretValue+"\n") || strings.Contains(string(dump), "APP_DB_PASSWORD_FILE") ||
		!strings.Contains(string(dump), "APP_TITLE=Archives\n") {
		t.Fatalf("app environment: want APP_DB_PASSWORD and APP_TITLE exported and no _FILE:\n%s", dump)
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 5*time.Second)
	assertNoSecret(t, "run stderr", p.stderr.String())
}

// Error lines are redacted too: a hook whose command line carries the secret fails.
func TestSecretsRedactedInErrors(t *testing.T) {
	s := newSecretSetup(t, fmt.Sprintf("[[hook]]\nname = \"check-%s\"\nrun = [\"false\"]\n", secretValue))
	p := startLauncher(t, env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile), "run")
	if code := p.wait(t, 5*time.Second); code != 1 {
		t.Fatalf("exit %d: %s", code, p.stderr)
	}
	if got := strings.TrimSpace(p.stderr.String()); got != "graft-launcher: startup failed: hook check-*** exited with code 1" {
		t.Fatalf("stderr %q", got)
	}
}

// exec renders the templates, passes the settings, and exits with the command's code; it
// leaves tmp alone (the app may be running beside it).
func TestExecRendersAndRuns(t *testing.T) {
	s := newSecretSetup(t, "")
	tmpFile := filepath.Join(s.dir, "tmp", "in-use.lock")
	must(t, os.MkdirAll(filepath.Dir(tmpFile), 0o755))
	must(t, os.WriteFile(tmpFile, nil, 0o644))
	cmd := exec.Command(launcherBin, "exec", "--", "sh", "-c", `test -z "$APP_DB_PASSWORD_FILE" && test "$APP_DB_PASSWORD" = "`+secretValue+`" && grep -q oauth `+s.rendered+` && exit 5`)
	cmd.Env = env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 5 {
		t.Fatalf("exec: exit %d, want 5 (%s)", cmd.ProcessState.ExitCode(), out)
	}
	if _, err := os.Stat(tmpFile); err != nil {
		t.Fatal("exec cleaned tmp")
	}
	cmd = exec.Command(launcherBin, "exec", "--", "no-such-command-xyz")
	cmd.Env = env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile)
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 127 || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("exec missing command: exit %d, %q", cmd.ProcessState.ExitCode(), out)
	}
}

// run empties tmp_dir before anything starts, without following a symlink out of it.
func TestRunCleansTmp(t *testing.T) {
	s := newSecretSetup(t, "")
	outside := filepath.Join(s.dir, "outside.txt")
	must(t, os.WriteFile(outside, []byte("keep"), 0o644))
	tmp := filepath.Join(s.dir, "tmp")
	must(t, os.MkdirAll(filepath.Join(tmp, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(tmp, "sub", "stale.pid"), []byte("1"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(tmp, "link")))
	must(t, os.Symlink(s.dir, filepath.Join(tmp, "dirlink")))
	p := startLauncher(t, env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile), "run")
	waitFor(t, 10*time.Second, "ready", func() bool { return strings.Contains(p.stderr.String(), "ready: backend") })
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("tmp not emptied: %v", entries)
	}
	if data, err := os.ReadFile(outside); err != nil || string(data) != "keep" {
		t.Fatalf("symlink target touched: %v %q", err, data)
	}
	if _, err := os.Stat(s.secretFile); err != nil {
		t.Fatal("tmp's parent folder touched")
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 5*time.Second)
}
