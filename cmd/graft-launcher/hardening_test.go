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

// runIn runs graft-launcher with args in dir and returns its exit code and stderr.
func runIn(t *testing.T, dir string, e []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(launcherBin, args...)
	cmd.Dir, cmd.Env = dir, e
	var stderr syncBuffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("graft-launcher %v did not end: %s", args, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// tree writes a few files under dir and returns a check that all are still there.
func tree(t *testing.T, dir string) func() {
	t.Helper()
	files := []string{"precious.db", "a/b/deep.txt", ".hidden"}
	for _, f := range files {
		p := filepath.Join(dir, f)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("keep"), 0o644))
	}
	return func() {
		t.Helper()
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Fatalf("%s was removed: %v", f, err)
			}
		}
	}
}

// The tmp settings that emptied / in a container: relative paths resolved against the working
// directory, the root, a symlink, a folder holding what the launcher uses. Each is refused as
// bad configuration (exit 2) before anything is removed or started.
func TestTmpDirNeverEmptiesAnythingElse(t *testing.T) {
	s := newSecretSetup(t, "")
	work := filepath.Join(s.dir, "work", "cwd")
	must(t, os.MkdirAll(work, 0o755))
	intact := tree(t, s.dir)
	intactWork := tree(t, work)
	secret := "APP_DB_PASSWORD_FILE=" + s.secretFile
	for _, v := range []string{"..", "../..", ".", "tmp", "./", "/", "//", "/..", s.dir + "/../../.."} {
		code, stderr := runIn(t, work, env(s.cfg, secret, "GRAFT_TMP_DIR="+v), "run")
		if code != 2 || !strings.Contains(stderr, "GRAFT_TMP_DIR") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("GRAFT_TMP_DIR=%q: exit %d, stderr %q; want exit 2 naming the variable", v, code, stderr)
		}
	}
	code, stderr := runIn(t, work, env(s.cfg, secret, "GRAFT_PORT_DIR=ports"), "run")
	if code != 2 || !strings.Contains(stderr, "GRAFT_PORT_DIR") {
		t.Errorf("GRAFT_PORT_DIR=ports: exit %d, stderr %q", code, stderr)
	}

	link := filepath.Join(s.dir, "tmplink")
	must(t, os.Symlink(s.dir, link))
	for v, want := range map[string]string{
		link:                          "symlink",
		link + "/.":                   "symlink",
		s.dir:                         "launcher also uses", // holds port_dir, the templates, the config
		filepath.Join(s.dir, "ports"): "launcher also uses", // is port_dir
		filepath.Join(s.dir, "app"):   "launcher also uses", // holds a template's dest
	} {
		code, stderr := runIn(t, work, env(s.cfg, secret, "GRAFT_TMP_DIR="+v), "run")
		if code != 2 || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("GRAFT_TMP_DIR=%s: exit %d, stderr %q; want exit 2 and %q", v, code, stderr, want)
		}
	}
	intact()
	intactWork()

	// launcher.toml (what graft.toml's [launcher] becomes) is checked the same way, with the
	// file, line and key.
	cfgFile := strings.TrimPrefix(s.cfg, "GRAFT_LAUNCHER_CONFIG=")
	data, err := os.ReadFile(cfgFile)
	must(t, err)
	must(t, os.WriteFile(cfgFile, []byte(strings.Replace(string(data), fmt.Sprintf("tmp_dir = %q", filepath.Join(s.dir, "tmp")), `tmp_dir = ".."`, 1)), 0o644))
	code, stderr = runIn(t, work, env(s.cfg, secret), "run")
	if code != 2 || !strings.Contains(stderr, cfgFile+":2: tmp_dir:") || !strings.Contains(stderr, "not absolute") {
		t.Errorf("tmp_dir = \"..\": exit %d, stderr %q", code, stderr)
	}
	intact()
	intactWork()
}

// A missing tmp_dir is created, owned by the launcher's user, and the run goes on.
func TestMissingTmpDirIsCreated(t *testing.T) {
	s := newSecretSetup(t, "")
	tmp := filepath.Join(s.dir, "new", "tmp")
	p := startLauncher(t, env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile, "GRAFT_TMP_DIR="+tmp), "run")
	waitFor(t, 10*time.Second, "ready", func() bool { return strings.Contains(p.stderr.String(), "ready: backend") })
	fi, err := os.Stat(tmp)
	if err != nil || !fi.IsDir() {
		t.Fatalf("tmp_dir not created: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Fatalf("tmp_dir owned by %d, want %d", st.Uid, os.Geteuid())
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 5*time.Second)
}

// X_FILE=/dev/zero used to be an out-of-memory kill with no message; a file is bounded by what
// exec can pass on to the app.
func TestSecretFileIsBounded(t *testing.T) {
	s := newSecretSetup(t, "")
	big := filepath.Join(s.dir, "big")
	must(t, os.WriteFile(big, make([]byte, 1<<20+1), 0o600))
	for file, want := range map[string]string{"/dev/zero": "not a regular file", big: "larger than 128 KiB"} {
		for _, cmd := range []string{"run", "config"} {
			code, stderr := runIn(t, s.dir, env(s.cfg, "APP_DB_PASSWORD_FILE="+file), cmd)
			if code != 2 || !strings.Contains(stderr, "APP_DB_PASSWORD_FILE") || !strings.Contains(stderr, want) {
				t.Errorf("%s with APP_DB_PASSWORD_FILE=%s: exit %d, stderr %q", cmd, file, code, stderr)
			}
		}
	}
}

// A one-character secret is hidden where it is a value, and garbles nothing else.
func TestShortSecretNeverGarblesConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`port_dir = %q
[[setting]]
name = "pw"
env = "APP_PW"
secret = true

[[process]]
name = "app"
command = ["/bin/app", "--retries", "1"]
components = ["backend"]

[[component]]
name = "backend"
port = 8081
`, filepath.Join(dir, "ports")))
	cmd := exec.Command(launcherBin, "config")
	cmd.Env = env(cfg, "APP_PW=1", "GRAFT_STOP_TIMEOUT=15s", "GRAFT_STARTUP_TIMEOUT=1m10s")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	for _, want := range []string{`stop_timeout = "15s"`, `startup_timeout = "1m10s"`, `pw = "***"  # from APP_PW, secret`,
		`command = ["/bin/app", "--retries", "***"]`, "port = 8081"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "***5s") || strings.Contains(string(out), "808***") {
		t.Errorf("garbled:\n%s", out)
	}
}

// A template that escapes the secret still makes a private file, even over an existing 0644 one.
func TestEscapedSecretTemplateIsPrivate(t *testing.T) {
	s := newSecretSetup(t, "")
	tmpl := filepath.Join(s.dir, "config.rb.tmpl")
	must(t, os.WriteFile(tmpl, []byte("AppConfig[:db_password] = {{ json .Settings.db_password }}\n"), 0o644))
	must(t, os.MkdirAll(filepath.Dir(s.rendered), 0o755))
	must(t, os.WriteFile(s.rendered, []byte("old\n"), 0o644))
	secret := filepath.Join(s.dir, "quoted")
	must(t, os.WriteFile(secret, []byte(`pa"ss\word`+"\n"), 0o600))
	code, stderr := runIn(t, s.dir, env(s.cfg, "APP_DB_PASSWORD_FILE="+secret), "exec", "--", "true")
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, stderr)
	}
	got, _ := os.ReadFile(s.rendered)
	if string(got) != `AppConfig[:db_password] = "pa\"ss\\word"`+"\n" {
		t.Fatalf("rendered %q", got)
	}
	if fi, _ := os.Stat(s.rendered); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// `config` shows each process's environment as the launcher passes it (the secret redacted,
// X_FILE gone) and how each rendered file will be written.
func TestConfigShowsProcessEnvironment(t *testing.T) {
	s := newSecretSetup(t, "")
	cmd := exec.Command(launcherBin, "config")
	cmd.Env = env(s.cfg, "APP_DB_PASSWORD_FILE="+s.secretFile, "JAVA_OPTS=-Xmx1g")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	text := string(out)
	assertNoSecret(t, "config output", text)
	for _, want := range []string{"[process.env]  # as the launcher passes it\n", `APP_DB_PASSWORD = "***"`, `APP_TITLE = "Archives"`,
		`JAVA_OPTS = "-Xmx1g"`, `GRAFT_TEST_CHILD = "serve"`, "dest = \"" + s.rendered + "\"\nmode = \"0600\"  # reads a secret setting"} {
		if !strings.Contains(text, want) {
			t.Errorf("config output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "APP_DB_PASSWORD_FILE =") {
		t.Errorf("the app never sees APP_DB_PASSWORD_FILE; config must not show it:\n%s", text)
	}
}

// A non-root launcher that cannot create tmp_dir or a template's folder says what to change.
func TestNonRootStartSaysWhatToChange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the launcher as another user")
	}
	// Everything the unprivileged launcher reads must be reachable by it.
	dir, err := os.MkdirTemp("/tmp", "graft-nonroot-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "graft-launcher")
	data, err := os.ReadFile(launcherBin)
	must(t, err)
	must(t, os.WriteFile(bin, data, 0o755))
	rootOwned := filepath.Join(dir, "app") // root's, 0755: the app user cannot create in it
	must(t, os.Mkdir(rootOwned, 0o755))
	ports := filepath.Join(dir, "ports")
	must(t, os.Mkdir(ports, 0o755))
	must(t, os.Chmod(ports, 0o777)) // Mkdir's mode passes the umask
	tmpl := filepath.Join(dir, "t.tmpl")
	must(t, os.WriteFile(tmpl, []byte("x"), 0o644))
	for _, c := range []struct{ extra, want string }{
		{fmt.Sprintf("tmp_dir = %q\n", filepath.Join(rootOwned, "tmp")), "does not exist and uid 65534 cannot create it"},
		{fmt.Sprintf("[[template]]\nsrc = %q\ndest = %q\n", tmpl, filepath.Join(rootOwned, "conf", "x.rb")), "create it in the image owned by uid 65534"},
	} {
		cfg := filepath.Join(dir, "launcher.toml")
		must(t, os.WriteFile(cfg, []byte(fmt.Sprintf("port_dir = %q\n%s\n[[process]]\nname = \"a\"\ncommand = [\"true\"]\n", ports, c.extra)), 0o644))
		cmd := exec.Command(bin, "run")
		cmd.Env = env("GRAFT_LAUNCHER_CONFIG=" + cfg)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), c.want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("exit %d (%v), output %q; want exit 1 and %q", code, err, out, c.want)
		}
	}
}
