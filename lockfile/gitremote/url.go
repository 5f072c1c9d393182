// Package gitremote talks to git servers without cloning: it lists a repository's refs and
// fetches single commits shallowly into memory, over file://, local paths, https and ssh, with
// credentials taken from the environment, ~/.netrc or the ssh agent and never printed.
package gitremote

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

// scpLike matches git's "[user@]host:path" form (no scheme, a colon before any slash).
var scpLike = regexp.MustCompile(`^(?:[^@/:]+@)?[^@/:]+:[^/]`)

// Kind is the transport a git URL uses.
type Kind int

const (
	Local Kind = iota // a path on this machine, or file://
	HTTP              // http:// or https://
	SSH               // ssh:// or scp-like user@host:path
	Git               // git:// (unauthenticated)
)

// KindOf tells the transport of u. It assumes u passed Check.
func KindOf(u string) Kind {
	switch {
	case strings.HasPrefix(u, "https://"), strings.HasPrefix(u, "http://"):
		return HTTP
	case strings.HasPrefix(u, "ssh://"), strings.HasPrefix(u, "git+ssh://"), strings.HasPrefix(u, "ssh+git://"):
		return SSH
	case strings.HasPrefix(u, "git://"):
		return Git
	case strings.HasPrefix(u, "file://"):
		return Local
	case scpLike.MatchString(u) && !strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "."):
		return SSH
	}
	return Local
}

// IsLocalPath reports whether u is a plain path (not a URL, not scp-like).
func IsLocalPath(u string) bool {
	return KindOf(u) == Local && !strings.HasPrefix(u, "file://")
}

// Check says what is wrong with a git URL's syntax, or nil.
func Check(u string) error {
	switch {
	case u == "":
		return errors.New("empty URL")
	case strings.ContainsAny(u, " \t\r\n"):
		return errors.New("contains white space; remove it")
	case strings.Contains(u, "://"):
		return checkURL(u)
	}
	return nil
}

func checkURL(u string) error {
	parsed, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("not a valid URL: %v", errors.Unwrap(err))
	}
	switch parsed.Scheme {
	case "https", "http", "ssh", "git+ssh", "ssh+git", "git":
		if parsed.Host == "" {
			return fmt.Errorf("no host after %s://", parsed.Scheme)
		}
	case "file":
		if parsed.Path == "" {
			return errors.New("no path after file://")
		}
	default:
		return fmt.Errorf("scheme %q is not supported; use https://, ssh://, git://, file:// or a path", parsed.Scheme)
	}
	return nil
}

// Redact strips user information (names, passwords, tokens) from u for messages and logs.
func Redact(u string) string {
	if !strings.Contains(u, "://") {
		// scp-like user@host:path: the user is not a secret, but keep messages uniform.
		return u
	}
	parsed, err := url.Parse(u)
	if err != nil {
		// Cannot parse: cut anything between the scheme and an '@' before the host.
		scheme, rest, _ := strings.Cut(u, "://")
		if at := strings.LastIndex(rest, "@"); at >= 0 && !strings.Contains(rest[:at], "/") {
			rest = rest[at+1:]
		}
		return scheme + "://" + rest
	}
	parsed.User = nil
	return parsed.String()
}

// Absolute makes a local path absolute against base (the site repository), leaving URLs alone.
func Absolute(u, base string) string {
	if !IsLocalPath(u) || filepath.IsAbs(u) {
		return u
	}
	abs, err := filepath.Abs(filepath.Join(base, u))
	if err != nil {
		return filepath.Join(base, u)
	}
	return abs
}

// Mirror rewrites URLs starting with Prefix to start with URL, like git's url.<URL>.insteadOf.
type Mirror struct{ Prefix, URL string }

// Rewrite applies the mirror with the longest matching prefix, as git does for insteadOf.
func Rewrite(u string, mirrors []Mirror) string {
	best := -1
	for i, m := range mirrors {
		if strings.HasPrefix(u, m.Prefix) && (best < 0 || len(m.Prefix) > len(mirrors[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return u
	}
	return mirrors[best].URL + strings.TrimPrefix(u, mirrors[best].Prefix)
}
