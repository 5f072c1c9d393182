package gitremote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

func TestKindAndCheck(t *testing.T) {
	cases := map[string]Kind{
		"https://github.com/a/b.git": HTTP, "http://h/x": HTTP, "ssh://git@h/x.git": SSH,
		"git@github.com:a/b.git": SSH, "github.com:a/b": SSH, "git://h/x": Git, "file:///srv/x.git": Local,
		"../x.git": Local, "/srv/x.git": Local, "x.git": Local, "./a:b": Local,
	}
	for u, want := range cases {
		if got := KindOf(u); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", u, got, want)
		}
		if err := Check(u); err != nil {
			t.Errorf("Check(%q): %v", u, err)
		}
	}
	for _, bad := range []string{"", "ftp://h/x", "https:///x", "file://", "a b"} {
		if Check(bad) == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok@github.com/a/b.git": "https://github.com/a/b.git",
		"https://tok@h/x":                     "https://h/x",
		"ssh://git@h/x":                       "ssh://h/x",
		"https://h/x":                         "https://h/x",
		"https://u:p%zz@h/x":                  "https://h/x",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRewriteLongestPrefix(t *testing.T) {
	m := []Mirror{{"https://github.com/", "https://mirror/gh/"}, {"https://github.com/lyrasis/", "file:///srv/lyrasis/"}}
	for in, want := range map[string]string{
		"https://github.com/lyrasis/a.git": "file:///srv/lyrasis/a.git",
		"https://github.com/x/a.git":       "https://mirror/gh/x/a.git",
		"https://gitlab.com/x/a.git":       "https://gitlab.com/x/a.git",
	} {
		if got := Rewrite(in, m); got != want {
			t.Errorf("Rewrite(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNetrc(t *testing.T) {
	text := "# comment\nmachine a.example login la password pa\nmacdef init\n  cd /\n  machine evil login x password y\n\nmachine b.example\n  login lb\n  password p#b\ndefault login ld password pd\n"
	for host, want := range map[string][2]string{"a.example": {"la", "pa"}, "b.example": {"lb", "p#b"}, "evil": {"ld", "pd"}, "c": {"ld", "pd"}} {
		l, p := parseNetrc(text, host)
		if l != want[0] || p != want[1] {
			t.Errorf("%s: got %s/%s, want %v", host, l, p, want)
		}
	}
}

func TestHostTokenVar(t *testing.T) {
	if got := HostTokenVar("git.example-1.org:8443"); got != "GRAFT_GIT_TOKEN_GIT_EXAMPLE_1_ORG_8443" {
		t.Errorf("got %s", got)
	}
	env := map[string]string{"GRAFT_GIT_TOKEN": "general", "GRAFT_GIT_TOKEN_H_EXAMPLE": "specific"}
	a, err := AuthFrom("https://h.example/x.git", func(k string) string { return env[k] })
	if err != nil || a.String() == "" {
		t.Fatal(err)
	}
	if got := hostToken("h.example", "", func(k string) string { return env[k] }); got != "specific" {
		t.Errorf("host token %q", got)
	}
	if got := hostToken("other", "", func(k string) string { return env[k] }); got != "general" {
		t.Errorf("general token %q", got)
	}
}

func TestSSHAuthFromKeyFile(t *testing.T) {
	home := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), pem.EncodeToMemory(block), 0o600)
	env := map[string]string{"HOME": home}
	a, err := AuthFrom("deploy@forge.example:org/x.git", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cb, ok := a.(*gitssh.PublicKeysCallback)
	if !ok || cb.User != "deploy" {
		t.Fatalf("auth = %#v", a)
	}
	if signers, _ := cb.Callback(); len(signers) != 1 {
		t.Errorf("signers = %d", len(signers))
	}
	if _, err := AuthFrom("ssh://forge.example/x.git", func(string) string { return "" }); err == nil {
		t.Error("no key anywhere: no error")
	}
}
