package gittest

import (
	"os/exec"
	"strings"
	"testing"
)

// The server must speak real smart HTTP: the git CLI itself clones through it, and a private
// repository refuses a clone without the password.
func TestServerServesSmartHTTP(t *testing.T) {
	root := t.TempDir()
	r := NewRepo(t, root, "a.git")
	r.Write(map[string]string{"README": "hello\n"})
	sha := r.Commit("first")
	p := NewRepo(t, root, "private.git")
	p.Write(map[string]string{"x": "y"})
	p.Commit("secret")
	srv := NewServer(t, root, WithBasicAuth("private.git", "u", "pw"))

	out, err := exec.Command("git", "ls-remote", srv.URL+"/a.git").CombinedOutput()
	if err != nil {
		t.Fatalf("ls-remote: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), sha+"\trefs/heads/main") {
		t.Fatalf("ls-remote output lacks %s: %s", sha, out)
	}
	cmd := exec.Command("git", "ls-remote", srv.URL+"/private.git")
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("private repo listed without credentials: %s", out)
	}
	u := strings.Replace(srv.URL, "http://", "http://u:pw@", 1)
	if out, err := exec.Command("git", "ls-remote", u+"/private.git").CombinedOutput(); err != nil {
		t.Fatalf("private repo with credentials: %v\n%s", err, out)
	}
}
