package gitremote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHost(t *testing.T) {
	for u, want := range map[string]string{
		"https://git.example.org:8443/lib/x.git":  "git.example.org:8443",
		"https://user:pw@github.com/a/b.git":      "github.com",
		"ssh://git@host.example/a.git":            "host.example",
		"git@github.com:lyrasis/aspace-oauth.git": "github.com",
		"file:///srv/git/a.git":                   "",
		"../repos/a.git":                          "",
	} {
		if got := Host(u); got != want {
			t.Errorf("Host(%q) = %q, want %q", u, got, want)
		}
	}
}

// DescribeHTTPAuth names where credentials come from in AuthFrom's order, never their value.
func TestDescribeHTTPAuth(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine netrc.example login u password secret-pw\n"), 0o600)
	env := map[string]string{"HOME": home, "GRAFT_GIT_TOKEN_GIT_EXAMPLE_ORG_8443": "tok-1", "GRAFT_GIT_TOKEN_TOKEN_EXAMPLE": "tok-2"}
	get := func(k string) string { return env[k] }
	for u, want := range map[string]string{
		"https://git.example.org:8443/a.git": "token from GRAFT_GIT_TOKEN_GIT_EXAMPLE_ORG_8443",
		"https://token.example/a.git":        "token from GRAFT_GIT_TOKEN_TOKEN_EXAMPLE",
		"https://netrc.example/a.git":        "credentials from netrc",
		"https://x:y@inline.example/a.git":   "credentials in the URL itself",
		"https://public.example/a.git":       "anonymous",
	} {
		got := DescribeHTTPAuth(u, get)
		if !strings.HasPrefix(got, want) || strings.Contains(got, "tok-") || strings.Contains(got, "secret") {
			t.Errorf("DescribeHTTPAuth(%q) = %q, want %q...", u, got, want)
		}
	}
}

// CheckSSH: no key, then a key but an unknown host, then the host in known_hosts.
func TestCheckSSH(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home}
	get := func(k string) string { return env[k] }
	const u = "git@git.example.edu:lib/priv.git"
	if err := CheckSSH(u, get); err == nil || !strings.Contains(err.Error(), "no ssh key") {
		t.Fatalf("no key: %v", err)
	}
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), pem.EncodeToMemory(block), 0o600)
	known := filepath.Join(home, ".ssh", "known_hosts")
	env["SSH_KNOWN_HOSTS"] = known
	if err := CheckSSH(u, get); err == nil || !strings.Contains(err.Error(), "no known_hosts file") {
		t.Fatalf("no known_hosts: %v", err)
	}
	hostPub, _, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := ssh.NewPublicKey(hostPub)
	os.WriteFile(known, []byte(knownhosts.Line([]string{"other.example"}, pub)+"\n"), 0o600)
	if err := CheckSSH(u, get); err == nil || !strings.Contains(err.Error(), "git.example.edu is not in") {
		t.Fatalf("unknown host: %v", err)
	}
	os.WriteFile(known, []byte(knownhosts.Line([]string{"git.example.edu"}, pub)+"\n"), 0o600)
	if err := CheckSSH(u, get); err != nil {
		t.Fatalf("known host: %v", err)
	}
}
