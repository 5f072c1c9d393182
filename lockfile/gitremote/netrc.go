package gitremote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// netrcLookup finds login and password for host in $NETRC, else ~/.netrc (git's and curl's
// convention): the first "machine host" entry wins, else a "default" entry. A missing file is
// no credentials, not an error.
func netrcLookup(host string, env Env) (login, password string, err error) {
	path := env("NETRC")
	if path == "" {
		home := env("HOME")
		if home == "" {
			return "", "", nil
		}
		path = filepath.Join(home, ".netrc")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("read %s: %w", path, err)
	}
	login, password = parseNetrc(string(data), host)
	return login, password, nil
}

// parseNetrc returns the credentials for host from netrc text.
func parseNetrc(text, host string) (login, password string) {
	type entry struct{ login, password string }
	var def *entry
	var cur *entry
	match := false
	toks := netrcTokens(text)
	for i := 0; i < len(toks); i++ {
		next := func() string {
			if i+1 < len(toks) {
				i++
				return toks[i]
			}
			return ""
		}
		switch toks[i] {
		case "machine":
			if match {
				return cur.login, cur.password
			}
			cur = &entry{}
			match = next() == host
		case "default":
			if match {
				return cur.login, cur.password
			}
			cur = &entry{}
			def = cur
		case "login":
			if cur != nil {
				cur.login = next()
			}
		case "password":
			if cur != nil {
				cur.password = next()
			}
		case "account":
			next()
		}
	}
	if match {
		return cur.login, cur.password
	}
	if def != nil {
		return def.login, def.password
	}
	return "", ""
}

// netrcTokens splits netrc text into tokens, dropping comments and macdef bodies (which run
// to the next blank line).
func netrcTokens(text string) []string {
	var toks []string
	inMacro := false
	for _, line := range strings.Split(text, "\n") {
		if inMacro {
			if strings.TrimSpace(line) == "" {
				inMacro = false
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue // a comment line; '#' inside a line may be part of a password
		}
		fields := strings.Fields(line)
		for j, f := range fields {
			if f == "macdef" {
				toks = append(toks, fields[:j]...)
				inMacro = true
				fields = nil
				break
			}
		}
		toks = append(toks, fields...)
	}
	return toks
}
