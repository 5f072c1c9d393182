package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/doctor"
)

// doctorReport runs `graft doctor --json` and returns its exit code and findings by topic.
func doctorReport(t *testing.T, args ...string) (int, map[string]doctor.Finding) {
	t.Helper()
	code, out, errOut := graft(t, append([]string{"doctor", "--json"}, args...)...)
	var r doctor.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor --json: exit %d: %v\n%s\n%s", code, err, out, errOut)
	}
	by := map[string]doctor.Finding{}
	for _, f := range r.Findings {
		by[f.Topic] = f
	}
	return code, by
}

// A site that needs what the machine lacks: an ssh host not in known_hosts, BuildKit at an
// address nothing answers on, a stale lock. Each is "missing" with its fix, and the exit is 1.
func TestDoctorNamesWhatTheSiteLacks(t *testing.T) {
	buildEnv(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Setenv("SSH_KNOWN_HOSTS", "")
	t.Setenv(buildopts.EnvBuildkitHost, "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Lock()
	s.WriteFile("plugins/priv/plugin.toml", "[source]\ngit = \"git@git.example.edu:lib/priv.git\"\nref = \"main\"\n\n[build]\nrun = [\"true\"]\n")

	code, f := doctorReport(t, "-C", s.Dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %+v", code, f)
	}
	for topic, want := range map[string]string{
		"lock":                "stale",
		"git git.example.edu": "no ssh key",
		"buildkit":            "not reachable",
	} {
		if got := f[topic]; got.Status != doctor.Missing || !strings.Contains(got.Detail, want) || got.Fix == "" {
			t.Errorf("%s: %+v, want missing with %q and a fix", topic, got, want)
		}
	}

	// With a key, the host must still be in known_hosts.
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	writeTestKey(t, filepath.Join(home, ".ssh", "id_ed25519"))
	_, f = doctorReport(t, "-C", s.Dir)
	if got := f["git git.example.edu"]; got.Status != doctor.Missing || !strings.Contains(got.Detail, "known_hosts") {
		t.Errorf("ssh host without known_hosts: %+v", got)
	}
}

// A current site with credentials stored for its registry: nothing missing, exit 0; the
// registry's credentials are reported as found, never printed.
func TestDoctorCurrentSite(t *testing.T) {
	buildEnv(t)
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-token"))
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"registry.test":{"auth":"`+auth+`"}}}`), 0o600)
	s := buildtest.NewSite(t, "oci-layout://base", "") // name = "registry.test/lib/app"
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Lock()

	code, out, errOut := graft(t, "doctor", "-C", s.Dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("a credential was printed:\n%s", out)
	}
	for _, want := range []string{"ok    lock", "registry registry.test", "credentials from the Docker config", "launcher linux/amd64", "cache"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// Outside a site, doctor reports the machine alone.
func TestDoctorWithoutSite(t *testing.T) {
	buildEnv(t)
	code, f := doctorReport(t, "-C", t.TempDir())
	if code != 0 || f["site"].Status != doctor.Info {
		t.Fatalf("exit %d, %+v", code, f)
	}
}

// writeTestKey writes an unencrypted ed25519 private key in OpenSSH form.
func writeTestKey(t *testing.T, file string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}
