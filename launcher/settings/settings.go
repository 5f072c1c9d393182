// Package settings resolves the application settings declared in launcher.toml from the
// environment and from *_FILE secrets, following the docker-library file_env convention, and
// keeps track of which values are secret so every printed output can redact them.
package settings

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/graft-build/graft/launcher/config"
)

// Redacted replaces a secret value wherever one could be printed.
const Redacted = "***"

// Source says where a value came from.
type Source string

// Where a resolved value came from.
const (
	FromEnv     Source = "env"
	FromFile    Source = "file"
	FromDefault Source = "default"
	Unset       Source = "unset"
)

// Value is one resolved setting.
type Value struct {
	Name   string
	Env    string
	Value  string
	Secret bool   // declared secret, or read from a file
	Source Source // env, file, default or unset
}

// Resolved is the outcome of resolving every declared setting.
type Resolved struct {
	Values []Value // in declaration order
	// removed lists the X_FILE variables the app must not see.
	removed map[string]bool
}

// Resolve applies file_env semantics to each declared setting:
// X and X_FILE both non-empty is an error; a non-empty X wins; else X_FILE names a file whose
// content, trailing newlines removed, is the value (unreadable file: error); else the default.
// An empty variable counts as unset. Errors name the setting and variables, never a value.
func Resolve(decls []config.Setting, env map[string]string) (*Resolved, error) {
	r := &Resolved{removed: map[string]bool{}}
	for _, d := range decls {
		v, err := resolveOne(d, env)
		if err != nil {
			return nil, err
		}
		r.Values = append(r.Values, v)
		r.removed[d.Env+"_FILE"] = true
	}
	return r, nil
}

func resolveOne(d config.Setting, env map[string]string) (Value, error) {
	v := Value{Name: d.Name, Env: d.Env, Secret: d.Secret}
	direct, file := env[d.Env], env[d.Env+"_FILE"]
	switch {
	case direct != "" && file != "":
		return v, fmt.Errorf("setting %s: both %s and %s_FILE are set; set only one", d.Name, d.Env, d.Env)
	case direct != "":
		v.Value, v.Source = direct, FromEnv
	case file != "":
		data, err := readBounded(file, MaxFileSize)
		if err != nil {
			return v, fmt.Errorf("setting %s: cannot read %s_FILE: %w", d.Name, d.Env, err)
		}
		v.Value, v.Source, v.Secret = strings.TrimRight(string(data), "\n"), FromFile, true
	case d.Default != "":
		v.Value, v.Source = d.Default, FromDefault
	default:
		v.Source = Unset
	}
	if d.Required && v.Value == "" {
		return v, fmt.Errorf("setting %s is required: set %s or %s_FILE", d.Name, d.Env, d.Env)
	}
	return v, nil
}

// MaxFileSize bounds what a *_FILE variable may name: secrets are passwords, keys and
// certificates, not data. Without a bound, X_FILE=/dev/zero is an out-of-memory kill with no
// message.
const MaxFileSize = 1 << 20

// readBounded reads at most max bytes of file; a longer file is an error that says so.
func readBounded(file string, max int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, describeReadErr(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, describeReadErr(err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes (1 MiB), the limit for a secret file", file, max)
	}
	return data, nil
}

// describeReadErr keeps the path and the reason of a read failure (neither is secret) without
// Go's operation prefix, so the line stays short.
func describeReadErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// Map returns name -> value, the data templates see as .Settings.
func (r *Resolved) Map() map[string]string {
	m := make(map[string]string, len(r.Values))
	for _, v := range r.Values {
		m[v.Name] = v.Value
	}
	return m
}

// Secrets returns every non-empty secret value, longest first so that redacting a value that
// contains another one replaces the whole of it.
func (r *Resolved) Secrets() []string {
	var out []string
	for _, v := range r.Values {
		if v.Secret && v.Value != "" {
			out = append(out, v.Value)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// MinRedactLen is the shortest secret value searched for in free text. A shorter value (a
// one-digit PIN, say) matches inside ordinary words and numbers: replacing it would garble the
// line ("15s" → "***5s") and, by where the marks fall, give the value away. Such values are still
// hidden wherever the launcher prints a setting's value as a field (see RedactField), and no
// message of the launcher quotes a setting's value.
const MinRedactLen = 4

// Redact replaces, in free text, every occurrence of each secret value at least MinRedactLen
// bytes long.
func (r *Resolved) Redact(s string) string {
	if r == nil {
		return s
	}
	for _, secret := range r.Secrets() {
		if len(secret) >= MinRedactLen {
			s = strings.ReplaceAll(s, secret, Redacted)
		}
	}
	return s
}

// RedactField is a structured value (a command argument, an environment entry's value, a
// path) as it may be printed: Redacted as a whole when it is a secret value, whatever its
// length, else the value with longer secrets inside it redacted.
func (r *Resolved) RedactField(v string) string {
	if r == nil || v == "" {
		return v
	}
	for _, secret := range r.Secrets() {
		if v == secret {
			return Redacted
		}
	}
	return r.Redact(v)
}

// SecretNames returns the names of the settings whose value is secret and non-empty.
func (r *Resolved) SecretNames() map[string]bool {
	out := map[string]bool{}
	for _, v := range r.Values {
		if v.Secret && v.Value != "" {
			out[v.Name] = true
		}
	}
	return out
}

// Display is the value as it may be printed: Redacted for secrets.
func (v Value) Display() string {
	if v.Secret && v.Value != "" {
		return Redacted
	}
	return v.Value
}

// Environ builds the environment the application's processes see from the launcher's own:
// every declared X_FILE removed, and every declared setting with a non-empty value exported as
// X, so apps that read their settings from the environment get the resolved value whichever
// way it was given. Entries keep the order of base; new ones are appended sorted.
func (r *Resolved) Environ(base []string) []string {
	set := map[string]string{}
	for _, v := range r.Values {
		if v.Value != "" {
			set[v.Env] = v.Value
		}
	}
	out := make([]string, 0, len(base)+len(set))
	seen := map[string]bool{}
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if r.removed[k] || seen[k] {
			continue
		}
		seen[k] = true
		if val, ok := set[k]; ok {
			out = append(out, k+"="+val)
			continue
		}
		out = append(out, kv)
	}
	var extra []string
	for k, val := range set {
		if !seen[k] {
			extra = append(extra, k+"="+val)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// EnvMap turns KEY=VALUE entries into a map; later entries win, as in exec.
func EnvMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
