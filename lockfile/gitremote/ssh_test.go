package gitremote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/graft-build/graft/internal/gittest"
)

// sshGitServer is a real ssh server on 127.0.0.1 that accepts one client key and runs
// git-upload-pack for "exec" requests, as forges do.
type sshGitServer struct {
	addr    string
	hostKey ssh.PublicKey
}

func startSSHGitServer(t *testing.T, clientKey ssh.PublicKey) *sshGitServer {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(clientKey.Marshal()) {
			return nil, nil
		}
		return nil, fmt.Errorf("unknown key")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg)
		}
	}()
	return &sshGitServer{addr: ln.Addr().String(), hostKey: hostSigner.PublicKey()}
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range chReqs {
				if req.Type != "exec" {
					req.Reply(req.Type == "env", nil)
					continue
				}
				var payload struct{ Cmd string }
				ssh.Unmarshal(req.Payload, &payload)
				req.Reply(true, nil)
				runUploadPack(ch, payload.Cmd)
				return
			}
		}()
	}
}

func runUploadPack(ch ssh.Channel, command string) {
	defer ch.Close()
	name, arg, _ := strings.Cut(command, " ")
	status := uint32(1)
	if name == "git-upload-pack" {
		cmd := exec.Command("git-upload-pack", strings.Trim(arg, "'"))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		if err := cmd.Run(); err == nil {
			status = 0
		}
	}
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, status)
	ch.SendRequest("exit-status", false, b)
}

func TestSSHTransport(t *testing.T) {
	root := t.TempDir()
	repo := gittest.NewRepo(t, root, "plugin.git")
	repo.Write(map[string]string{"plugin/a": "a"})
	c := repo.Commit("over ssh")
	repo.AnnotatedTag("v1.0.0", "r")

	home := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, _ := ssh.MarshalPrivateKey(priv, "")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), pem.EncodeToMemory(block), 0o600)
	signer, _ := ssh.NewSignerFromKey(priv)
	srv := startSSHGitServer(t, signer.PublicKey())

	known := filepath.Join(home, "known_hosts")
	t.Setenv("SSH_KNOWN_HOSTS", known)
	t.Setenv("SSH_AUTH_SOCK", "")
	env := func(k string) string { return map[string]string{"HOME": home}[k] }
	u := "ssh://git@" + srv.addr + repo.Bare
	ctx := context.Background()

	// The host is not in known_hosts yet: refused.
	os.WriteFile(known, nil, 0o600)
	if _, err := Open(ctx, u, WithEnv(env)); err == nil || !strings.Contains(err.Error(), "key is unknown") {
		t.Fatalf("unknown host key: %v", err)
	}
	os.WriteFile(known, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, srv.hostKey)+"\n"), 0o600)
	r, err := Open(ctx, u, WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tag, ok := r.Ref("refs/tags/v1.0.0")
	if !ok || tag.Commit != c {
		t.Fatalf("tag %+v, want %s", tag, c)
	}
	got, err := r.Fetch(ctx, c, "plugin")
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "over ssh" || got.Tree != strings.TrimSpace(repo.Git("rev-parse", c+":plugin")) {
		t.Errorf("commit %+v", got)
	}
	// Another key is refused.
	other := t.TempDir()
	_, priv2, _ := ed25519.GenerateKey(rand.Reader)
	block2, _ := ssh.MarshalPrivateKey(priv2, "")
	os.MkdirAll(filepath.Join(other, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(other, ".ssh", "id_ed25519"), pem.EncodeToMemory(block2), 0o600)
	if _, err := Open(ctx, u, WithEnv(func(k string) string { return map[string]string{"HOME": other}[k] })); err == nil ||
		!strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("a foreign key: %v", err)
	}
}
