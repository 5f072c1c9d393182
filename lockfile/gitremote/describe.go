package gitremote

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Host is the host[:port] of an http(s) or ssh URL (scp-like too), "" for other kinds.
func Host(u string) string {
	switch KindOf(u) {
	case HTTP, SSH:
	default:
		return ""
	}
	if strings.Contains(u, "://") {
		parsed, err := url.Parse(u)
		if err != nil {
			return ""
		}
		return parsed.Host
	}
	host, _, _ := strings.Cut(u, ":") // user@host:path
	if at := strings.LastIndex(host, "@"); at >= 0 {
		host = host[at+1:]
	}
	return host
}

// DescribeHTTPAuth says where the credentials for an https URL come from (never what they
// are), following AuthFrom's order.
func DescribeHTTPAuth(u string, env Env) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "unparsable URL"
	}
	if parsed.User != nil {
		return "credentials in the URL itself"
	}
	for _, v := range tokenVars(parsed.Hostname(), parsed.Port()) {
		if env(v) != "" {
			return "token from " + v
		}
	}
	if login, pw, err := netrcLookup(parsed.Hostname(), env); err == nil && (login != "" || pw != "") {
		return "credentials from netrc"
	}
	return "anonymous (fine for public repositories; set GRAFT_GIT_TOKEN_" + strings.TrimPrefix(HostTokenVar(parsed.Hostname()), EnvToken+"_") + " for private ones)"
}

// tokenVars are the variables hostToken reads, in its order.
func tokenVars(host, port string) []string {
	var out []string
	if port != "" {
		out = append(out, HostTokenVar(net.JoinHostPort(host, port)))
	}
	return append(out, HostTokenVar(host), EnvToken)
}

// CheckSSH says why an ssh URL cannot be used from this machine: no key, or a host that is not
// in known_hosts (graft refuses unknown hosts). It contacts nothing.
func CheckSSH(u string, env Env) error {
	if _, err := sshAuth(u, env); err != nil {
		return err
	}
	files := knownHostsFiles(env)
	if len(files) == 0 {
		return errors.New("no known_hosts file: add the host's key to ~/.ssh/known_hosts (ssh-keyscan HOST >> ~/.ssh/known_hosts) or set SSH_KNOWN_HOSTS")
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return errors.New("known_hosts: " + err.Error())
	}
	host := Host(u)
	if !strings.Contains(host, ":") {
		host += ":22"
	}
	// A key no host has: the error lists the keys known_hosts holds for the host, none if the
	// host is unknown.
	var ke *knownhosts.KeyError
	if err := cb(host, &net.TCPAddr{IP: net.IPv4zero}, probeKey{}); errors.As(err, &ke) && len(ke.Want) == 0 {
		return errors.New("host " + Host(u) + " is not in " + strings.Join(files, ", ") + ": add its key (ssh-keyscan) before graft can fetch from it")
	}
	return nil
}

// knownHostsFiles are the files go-git reads: SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts and
// /etc/ssh/ssh_known_hosts, those that exist.
func knownHostsFiles(env Env) []string {
	var cands []string
	if v := env("SSH_KNOWN_HOSTS"); v != "" {
		cands = filepath.SplitList(v)
	} else {
		if home := env("HOME"); home != "" {
			cands = append(cands, filepath.Join(home, ".ssh", "known_hosts"))
		}
		cands = append(cands, "/etc/ssh/ssh_known_hosts")
	}
	var out []string
	for _, f := range cands {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// probeKey is a public key no host has, to ask known_hosts which keys it holds for a host.
type probeKey struct{}

func (probeKey) Type() string                            { return "graft-probe" }
func (probeKey) Marshal() []byte                         { return []byte("graft-probe") }
func (probeKey) Verify(_ []byte, _ *ssh.Signature) error { return errors.New("probe key") }
