// Package tomldecode decodes TOML strictly and turns go-toml's errors into one-line messages
// that name the file, line and key, so every graft file format reports bad input the same way.
package tomldecode

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
)

// Error is a problem at a place in a file. Error() gives "file:line: key: message".
type Error struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, empty when the problem is not about one key
	Msg  string // what is wrong and what to do
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is several problems found in one pass; Error() joins them with newlines, one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns nil for an empty list, so callers can `return errs.Err()`.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Decode decodes data into v, rejecting unknown keys. file is only used in messages.
// Every failure is an *Error or Errors.
func Decode(file string, data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var es Errors
		for _, de := range strict.Errors {
			line, _ := de.Position()
			es = append(es, &Error{File: file, Line: line, Key: strings.Join(de.Key(), "."),
				Msg: unknownKeyMsg(reflect.TypeOf(v), de.Key())})
		}
		return es
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		key, msg := strings.Join(de.Key(), "."), cleanMsg(de.Error())
		if key == "" {
			msg = "TOML syntax error: " + msg + "; fix the line (strings in double quotes, lists in [ ], one key = value per line)"
		}
		return &Error{File: file, Line: line, Key: key, Msg: msg}
	}
	return &Error{File: file, Msg: cleanMsg(err.Error())}
}

// cleanMsg keeps go-toml's message short: one line, without its "toml: " prefix, and type
// mismatches said in the user's terms rather than Go's.
func cleanMsg(s string) string {
	s = strings.TrimPrefix(s, "toml: ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return friendlyType(s)
}

// go-toml v2's type mismatch messages (unmarshaler.go), compiled on first use: they are needed
// only for bad input, and compiling them at init cost every graft-launcher start 0.1 ms.
var (
	mismatchRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^cannot decode TOML (.+?) into (?:struct field .* of type )?(.+)$`)
	})
	tableInRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^cannot store (a table|an array table) in a (.+)$`)
	})
)

// friendlyType rewrites a go-toml type mismatch ("cannot decode TOML string into struct field
// lockfile.PluginLauncher.Hooks of type []string") as what was found, what is wanted and an
// example, without Go type names. Other messages are returned unchanged.
func friendlyType(s string) string {
	var found, goType string
	if m := mismatchRE().FindStringSubmatch(s); m != nil {
		found, goType = "a TOML "+m[1], m[2]
	} else if m := tableInRE().FindStringSubmatch(s); m != nil {
		found, goType = "a table", m[2]
		if m[1] == "an array table" {
			found = "an array of tables ([[...]])"
		}
	} else {
		return s
	}
	return fmt.Sprintf("wrong type: found %s, want %s; fix the value", found, wantedType(goType))
}

// wantedType says a Go type (or reflect kind) the way the TOML file must write it.
func wantedType(t string) string {
	switch {
	case t == "string":
		return `a string in quotes, e.g. "value"`
	case t == "[]string":
		return `a list of strings, e.g. ["a", "b"]`
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "map[string]string"):
		return `a table of strings, e.g. { NAME = "value" }`
	case strings.HasPrefix(t, "map"):
		return "a table"
	case strings.HasPrefix(t, "[]") || t == "slice" || t == "array":
		return "a list of tables ([[...]] or [{ ... }])"
	default:
		return "a table"
	}
}

// LineOf returns the 1-based line where key (dotted path, e.g. "source.git" or "plugin") is
// first defined in data, or 0. Checks made after decoding (required keys, bad values) use it
// so their messages point at a line like the decoder's own.
func LineOf(data []byte, key string) int {
	target := strings.Split(key, ".")
	line := 0
	table := []string{}
	for _, raw := range strings.Split(string(data), "\n") {
		line++
		l := strings.TrimSpace(raw)
		if l == "" || l[0] == '#' {
			continue
		}
		if strings.HasPrefix(l, "[") {
			name := strings.Trim(l, "[] \t")
			if i := strings.Index(name, "]"); i >= 0 {
				name = name[:i]
			}
			table = splitKey(name)
			if equalPath(table, target) {
				return line
			}
			continue
		}
		eq := strings.IndexByte(l, '=')
		if eq < 0 {
			continue
		}
		full := append(append([]string{}, table...), splitKey(l[:eq])...)
		if equalPath(full, target) {
			return line
		}
	}
	return 0
}

func splitKey(s string) []string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return parts
}

func equalPath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// unknownKeyMsg says what to do about an unknown key: the allowed key it is most likely a typo
// of, else the keys allowed in that table (from v's toml tags), else the generic advice.
func unknownKeyMsg(v reflect.Type, key []string) string {
	const generic = "unknown key; remove it or check its spelling against the documented schema"
	if len(key) == 0 {
		return generic
	}
	known := knownKeys(v, key[:len(key)-1])
	if len(known) == 0 {
		return generic
	}
	bad := key[len(key)-1]
	best, bestDist := "", 0
	for _, k := range known {
		if d := editDistance(strings.ToLower(bad), k); best == "" || d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist <= max(1, len(bad)/3) {
		return fmt.Sprintf("unknown key; did you mean %q?", best)
	}
	return fmt.Sprintf("%s (keys allowed here: %s)", generic, strings.Join(known, ", "))
}

// knownKeys lists the toml keys of the table at path inside t, or nil when the table is a map
// (any key goes) or the path does not lead to a struct.
func knownKeys(t reflect.Type, path []string) []string {
	t = tableType(t)
	for _, name := range path {
		if t == nil || t.Kind() != reflect.Struct {
			return nil
		}
		var next reflect.Type
		for i := 0; i < t.NumField(); i++ {
			if tagName(t.Field(i)) == name {
				next = tableType(t.Field(i).Type)
			}
		}
		t = next
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if n := tagName(t.Field(i)); n != "" && n != "-" && t.Field(i).IsExported() {
			keys = append(keys, n)
		}
	}
	return keys
}

// tableType is the struct a TOML table of type t decodes into: through pointers and the
// elements of lists (arrays of tables).
func tableType(t reflect.Type) reflect.Type {
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		t = t.Elem()
	}
	return t
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "" {
		return strings.ToLower(f.Name) // go-toml matches untagged fields case-insensitively
	}
	return name
}

// editDistance is the Levenshtein distance between a and b (bytes; keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
