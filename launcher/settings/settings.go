// Package settings resolves the application settings declared in launcher.toml from the
// environment and from *_FILE secrets, following the docker-library file_env convention, and
// keeps track of which values are secret so every printed output can redact them.
package settings

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

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
		data, err := readSecretFile(file)
		if err != nil {
			return v, fmt.Errorf("setting %s: cannot read %s_FILE: %w", d.Name, d.Env, err)
		}
		v.Value, v.Source, v.Secret = strings.TrimRight(string(data), "\n"), FromFile, true
	case d.Default != "":
		v.Value, v.Source = d.Default, FromDefault
	default:
		v.Source = Unset
	}
	if err := checkExportable(v); err != nil {
		return v, fmt.Errorf("setting %s: %w", d.Name, err)
	}
	if d.Required && v.Value == "" {
		return v, fmt.Errorf("setting %s is required: set %s or %s_FILE", d.Name, d.Env, d.Env)
	}
	return v, nil
}

// MaxEnvEntry is the most Linux passes through exec in one environment entry ("X=value" and its
// NUL: MAX_ARG_STRLEN, 32 pages). Every setting is exported to the app as X, so a longer value
// would make every hook and process fail to start (E2BIG, exit 126) without naming the setting.
const MaxEnvEntry = 128 << 10

// checkExportable refuses a value that exec cannot pass as X: one holding a NUL byte, or one
// making "X=value" longer than MaxEnvEntry. The message names where the value came from,
// never the value.
func checkExportable(v Value) error {
	from := v.Origin()
	if v.Source == FromDefault {
		from = "its default"
	}
	switch {
	case strings.IndexByte(v.Value, 0) >= 0:
		return fmt.Errorf("the value from %s holds a NUL byte, which no environment variable can carry (the app gets it as %s); remove it", from, v.Env)
	case len(v.Env)+len(v.Value)+2 > MaxEnvEntry:
		return fmt.Errorf("the value from %s is %d bytes; the app gets it as %s, and exec passes at most %d bytes (128 KiB) per environment variable; use a shorter value", from, len(v.Value), v.Env, MaxEnvEntry-len(v.Env)-2)
	}
	return nil
}

// readSecretFile reads what a *_FILE variable names: a regular file (following symlinks, as
// Kubernetes' secret volumes need) of at most MaxEnvEntry bytes, trailing newlines included.
// The file is opened non-blocking and checked before the first read, so a FIFO with no
// writer (or a device such as /dev/zero, or a terminal) is refused at once instead of hanging
// or filling memory.
func readSecretFile(file string) ([]byte, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, describeReadErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, describeReadErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); name a file holding the value", file, fileKind(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxEnvEntry+1))
	if err != nil {
		return nil, describeReadErr(err)
	}
	if len(data) > MaxEnvEntry {
		return nil, fmt.Errorf("%s: larger than 128 KiB, the most exec passes in one environment variable (the app gets the value in its environment)", file)
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
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
// bytes long, in every form a message can carry it: as is, escaped as Go's %q escapes it
// (a value holding a quote, a backslash, a control or non-printable character is printed
// escaped by any %q on the way), and each of its lines, since output is matched and printed
// line by line.
func (r *Resolved) Redact(s string) string {
	if r == nil {
		return s
	}
	needles := r.needles()
	// Until none is left: replacing one occurrence can join text into another ("x***y" in
	// "xx***yy"). Each pass shortens s, since every needle is longer than Redacted.
	for again := true; again; {
		again = false
		for _, n := range needles {
			if strings.Contains(s, n) {
				s, again = strings.ReplaceAll(s, n, Redacted), true
			}
		}
	}
	return s
}

// RedactCut is Redact for text cut at its end from a longer line: a secret straddling the cut
// is also hidden, by redacting any end of the text that begins a secret's form.
func (r *Resolved) RedactCut(s string) string {
	if r == nil {
		return s
	}
	s = r.Redact(s)
	for _, n := range r.needles() {
		if i := cutPrefixAt(s, n); i >= 0 {
			return s[:i] + Redacted
		}
	}
	return s
}

// cutPrefixAt returns the first index i such that s[i:] is a proper prefix of n at least
// MinRedactLen bytes long, or -1.
func cutPrefixAt(s, n string) int {
	for i := max(0, len(s)-len(n)+1); i <= len(s)-MinRedactLen; i++ {
		j := strings.IndexByte(s[i:], n[0])
		if j < 0 {
			return -1
		}
		if i += j; i <= len(s)-MinRedactLen && strings.HasPrefix(n, s[i:]) {
			return i
		}
	}
	return -1
}

// needles are the strings Redact replaces: each secret's forms at least MinRedactLen bytes
// long, longest first so that a form containing another is replaced whole.
func (r *Resolved) needles() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if len(n) >= MinRedactLen && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, secret := range r.Secrets() {
		forms := append([]string{secret}, strings.Split(secret, "\n")...)
		for _, f := range forms {
			f = strings.TrimRight(f, "\r")
			q := strconv.Quote(f)
			add(f)
			add(q[1 : len(q)-1])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
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

// Origin names where the value came from: X, X_FILE, "default" or "unset".
func (v Value) Origin() string {
	switch v.Source {
	case FromEnv:
		return v.Env
	case FromFile:
		return v.Env + "_FILE"
	}
	return string(v.Source)
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
