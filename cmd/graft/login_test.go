package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-build/graft/internal/registrytest"
)

// withStdin runs f with os.Stdin reading s (cobra reads the command's stdin from it).
func withStdin(t *testing.T, s string, f func()) {
	file := filepath.Join(t.TempDir(), "stdin")
	os.WriteFile(file, []byte(s), 0o600)
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	old := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = old }()
	f()
}

// graft login checks the credentials with the registry and stores them where docker login
// does; graft build --push then uses them; graft logout removes them.
func TestLoginStoresCredentialsAsDockerDoes(t *testing.T) {
	buildEnv(t)
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	const pw = "s3cret-token-value"
	host := registrytest.New(t, registrytest.WithBasicAuth("ci", pw)).Host
	s := graftSite(t)

	var code int
	var out, errOut string
	withStdin(t, "wrong-password\n", func() { code, out, errOut = graft(t, "login", host, "-u", "ci", "--password-stdin") })
	if code != 2 || !strings.Contains(errOut, "refused") || strings.Contains(errOut+out, "wrong-password") {
		t.Fatalf("wrong password: exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err == nil {
		t.Fatal("refused credentials were stored")
	}
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "-t", host+"/lib/app:v1", "--push", "--progress", "quiet"); code == 0 {
		t.Fatalf("push without login succeeded: %s", errOut)
	}

	withStdin(t, pw+"\n", func() { code, out, errOut = graft(t, "login", host, "-u", "ci", "--password-stdin") })
	if code != 0 || !strings.Contains(out, "Login Succeeded") || strings.Contains(out+errOut, pw) {
		t.Fatalf("login: exit %d, %q %q", code, out, errOut)
	}
	raw, err := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cf struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cf); err != nil || cf.Auths[host].Auth != base64.StdEncoding.EncodeToString([]byte("ci:"+pw)) {
		t.Fatalf("config.json: %s (%v)", raw, err)
	}
	if fi, _ := os.Stat(filepath.Join(cfgDir, "config.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v, want 0600", fi.Mode().Perm())
	}
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "-t", host+"/lib/app:v1", "--push", "--progress", "quiet"); code != 0 {
		t.Fatalf("push after login: exit %d %s", code, errOut)
	}

	if code, out, errOut := graft(t, "logout", host); code != 0 || !strings.Contains(out, "Removing login credentials for "+host) {
		t.Fatalf("logout: exit %d %q %q", code, out, errOut)
	}
	if raw, _ := os.ReadFile(filepath.Join(cfgDir, "config.json")); strings.Contains(string(raw), base64.StdEncoding.EncodeToString([]byte("ci:"+pw))) {
		t.Fatalf("credentials still stored: %s", raw)
	}
	// Usage errors: exit 2.
	for _, args := range [][]string{{"login", host}, {"login", host, "-u", "ci"}, {"login", "https://host/with/path", "-u", "x", "-p", "y"}} {
		if code, _, errOut := graft(t, args...); code != 2 {
			t.Errorf("%v: exit %d %q", args, code, errOut)
		}
	}
}

// login and logout leave config.json mode 0600 whatever it was (a 0644 file used to stay
// world-readable with the credentials in it, even on a second login with the same ones),
// keep the rest of it and its owner, and leave no temporary file; a config.json that is a
// symlink is refused (exit 2) before anything is written or the registry is asked, its
// target untouched.
func TestLoginConfigFileIsPrivateAndNeverALink(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	const pw = `s3cret"token\value`
	host := registrytest.New(t, registrytest.WithBasicAuth("ci", pw)).Host
	file := filepath.Join(cfgDir, "config.json")
	login := func() (int, string, string) {
		var code int
		var out, errOut string
		withStdin(t, pw+"\n", func() { code, out, errOut = graft(t, "login", host, "-u", "ci", "--password-stdin") })
		return code, out, errOut
	}
	private := func(what string) {
		t.Helper()
		fi, err := os.Lstat(file)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: config.json %v (%v), want a regular file, mode 0600", what, fi.Mode(), err)
		}
		if entries, _ := os.ReadDir(cfgDir); len(entries) != 1 {
			t.Fatalf("%s: files left beside config.json: %v", what, entries)
		}
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(file, []byte(`{"psFormat": "table {{.ID}}"}`), 0o644))
	if code, _, errOut := login(); code != 0 {
		t.Fatalf("login: exit %d %s", code, errOut)
	}
	private("login over a 0644 file")
	if raw, _ := os.ReadFile(file); !strings.Contains(string(raw), `"psFormat": "table {{.ID}}"`) {
		t.Fatalf("other settings lost: %s", raw)
	}
	must(os.Chmod(file, 0o644))
	if code, _, errOut := login(); code != 0 {
		t.Fatalf("second login: exit %d %s", code, errOut)
	}
	private("login again with the same credentials")
	must(os.Chmod(file, 0o644))
	if code, _, errOut := graft(t, "logout", host); code != 0 {
		t.Fatalf("logout: exit %d %s", code, errOut)
	}
	private("logout")

	if os.Geteuid() == 0 { // root writing another user's config keeps it theirs
		must(os.Chown(file, 65534, 65534))
		if code, _, errOut := login(); code != 0 {
			t.Fatalf("login as root: exit %d %s", code, errOut)
		}
		private("login as root")
		if fi, _ := os.Stat(file); fi.Sys().(*syscall.Stat_t).Uid != 65534 {
			t.Fatalf("owner changed to %d", fi.Sys().(*syscall.Stat_t).Uid)
		}
	}

	target := filepath.Join(t.TempDir(), "dotfiles-config.json")
	must(os.WriteFile(target, []byte(`{"psFormat": "x"}`), 0o644))
	must(os.Remove(file))
	must(os.Symlink(target, file))
	for _, run := range []func() (int, string, string){login, func() (int, string, string) { return graft(t, "logout", host) }} {
		code, out, errOut := run()
		if code != 2 || !strings.Contains(errOut, file+" is a symlink (to "+target+"); graft writes credentials only into a regular file") || strings.Contains(out+errOut, pw) {
			t.Errorf("through a symlink: exit %d, %q %q; want exit 2 naming the link", code, out, errOut)
		}
	}
	if raw, _ := os.ReadFile(target); string(raw) != `{"psFormat": "x"}` {
		t.Fatalf("the link's target was written: %s", raw)
	}
	if fi, _ := os.Lstat(file); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
}
