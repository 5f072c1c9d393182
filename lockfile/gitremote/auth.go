package gitremote

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Environment variables read for credentials.
const (
	EnvToken         = "GRAFT_GIT_TOKEN" // any https host; GRAFT_GIT_TOKEN_<HOST> for one host
	EnvSSHKey        = "GRAFT_SSH_KEY"   // a private key file tried before the agent and ~/.ssh keys
	EnvSSHPassphrase = "GRAFT_SSH_KEY_PASSPHRASE"
)

// tokenUser is the user name sent with a bare token: GitHub documents it for tokens, and
// GitLab, Gitea and Bitbucket accept any name with a personal access token.
const tokenUser = "x-access-token"

// Env looks variables up; tests and embedders pass their own, graft passes os.Getenv.
type Env func(string) string

// Auth returns the credentials for u using the process environment: see AuthFrom.
func Auth(u string) (transport.AuthMethod, error) { return AuthFrom(u, os.Getenv) }

// AuthFrom returns the credentials for u:
//   - file://, local paths, git://: none.
//   - https: user:password in the URL itself (used by go-git as given); else GRAFT_GIT_TOKEN_<HOST>
//     (host upper-cased, every other character '_', e.g. GRAFT_GIT_TOKEN_GITHUB_COM), else
//     GRAFT_GIT_TOKEN; a value "user:secret" sets the user too. Else the machine's entry in
//     $NETRC or ~/.netrc. Else anonymous.
//   - ssh: the user from the URL (default "git"); keys from GRAFT_SSH_KEY, the ssh agent
//     (SSH_AUTH_SOCK) and ~/.ssh/id_ed25519, id_ecdsa, id_rsa; host keys checked against
//     SSH_KNOWN_HOSTS or ~/.ssh/known_hosts (go-git's default).
func AuthFrom(u string, env Env) (transport.AuthMethod, error) {
	switch KindOf(u) {
	case HTTP:
		return httpAuth(u, env)
	case SSH:
		return sshAuth(u, env)
	}
	return nil, nil
}

func httpAuth(u string, env Env) (transport.AuthMethod, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %v", Redact(u), errors.Unwrap(err))
	}
	if parsed.User != nil {
		return nil, nil // go-git sends the URL's own user:password
	}
	host := parsed.Hostname()
	if tok := hostToken(host, parsed.Port(), env); tok != "" {
		user, pass, ok := strings.Cut(tok, ":")
		if !ok {
			user, pass = tokenUser, tok
		}
		return &githttp.BasicAuth{Username: user, Password: pass}, nil
	}
	login, password, err := netrcLookup(host, env)
	if err != nil {
		return nil, err
	}
	if login != "" || password != "" {
		return &githttp.BasicAuth{Username: login, Password: password}, nil
	}
	return nil, nil
}

// hostToken reads GRAFT_GIT_TOKEN_<HOST>[_<PORT>], then GRAFT_GIT_TOKEN (see tokenVars).
func hostToken(host, port string, env Env) string {
	for _, v := range tokenVars(host, port) {
		if t := env(v); t != "" {
			return t
		}
	}
	return ""
}

// HostTokenVar is the per-host token variable: GRAFT_GIT_TOKEN_ plus host with letters
// upper-cased and every other character replaced by '_' ("git.example.org:8443" gives
// GRAFT_GIT_TOKEN_GIT_EXAMPLE_ORG_8443).
func HostTokenVar(host string) string {
	b := []byte(strings.ToUpper(host))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return EnvToken + "_" + string(b)
}

func sshAuth(u string, env Env) (transport.AuthMethod, error) {
	user := sshUser(u)
	var signers []ssh.Signer
	var problems []string
	if key := env(EnvSSHKey); key != "" {
		s, err := loadKey(key, env(EnvSSHPassphrase))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvSSHKey, err)
		}
		signers = append(signers, s)
	}
	if sock := env("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.Dial("unix", sock); err == nil {
			agentSigners, err := agent.NewClient(conn).Signers()
			if err != nil {
				problems = append(problems, fmt.Sprintf("ssh agent: %v", err))
			}
			signers = append(signers, agentSigners...)
		} else {
			problems = append(problems, fmt.Sprintf("ssh agent at SSH_AUTH_SOCK: %v", err))
		}
	}
	for _, f := range defaultKeyFiles(env) {
		s, err := loadKey(f, env(EnvSSHPassphrase))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		signers = append(signers, s)
	}
	if len(signers) == 0 {
		msg := "no ssh key: start an ssh agent with your key, set " + EnvSSHKey + ", or create ~/.ssh/id_ed25519"
		if len(problems) > 0 {
			msg += " (" + strings.Join(problems, "; ") + ")"
		}
		return nil, errors.New(msg)
	}
	return &gitssh.PublicKeysCallback{User: user, Callback: func() ([]ssh.Signer, error) { return signers, nil }}, nil
}

func sshUser(u string) string {
	if strings.Contains(u, "://") {
		if parsed, err := url.Parse(u); err == nil && parsed.User != nil && parsed.User.Username() != "" {
			return parsed.User.Username()
		}
		return "git"
	}
	if at := strings.Index(u, "@"); at > 0 && at < strings.Index(u, ":") {
		return u[:at]
	}
	return "git"
}

func defaultKeyFiles(env Env) []string {
	home := env("HOME")
	if home == "" {
		return nil
	}
	var out []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		out = append(out, filepath.Join(home, ".ssh", n))
	}
	return out
}

func loadKey(path, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s ssh.Signer
	if passphrase != "" {
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	} else {
		s, err = ssh.ParsePrivateKey(pem)
	}
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("key %s is encrypted: add it to the ssh agent or set %s", path, EnvSSHPassphrase)
		}
		return nil, fmt.Errorf("key %s: %v", path, err)
	}
	return s, nil
}

func osGetenv(k string) string { return os.Getenv(k) }

// secretsOf lists credential strings that must never appear in messages.
func secretsOf(u string, auth transport.AuthMethod) []string {
	var out []string
	if parsed, err := url.Parse(u); err == nil && parsed.User != nil {
		if p, ok := parsed.User.Password(); ok && p != "" {
			out = append(out, p, url.QueryEscape(p))
		}
	}
	if b, ok := auth.(*githttp.BasicAuth); ok && b.Password != "" {
		out = append(out, b.Password)
	}
	return out
}
