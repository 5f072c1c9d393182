package lockfile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// BaseVersion is graft.toml's [base_version]: where the base application's version is read.
// At most one key is set; with none, the label org.opencontainers.image.version is read, else
// the base's tag.
type BaseVersion struct {
	Label string `toml:"label,omitempty"` // an image label, e.g. org.opencontainers.image.version
	Env   string `toml:"env,omitempty"`   // an environment variable of the base image's config
	Tag   bool   `toml:"tag,omitempty"`   // the tag of graft.toml's base
}

// DefaultVersionLabel is the label read when graft.toml has no [base_version].
const DefaultVersionLabel = "org.opencontainers.image.version"

var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)

func validateBaseVersion(p *problems, b BaseVersion) {
	n := 0
	for _, set := range []bool{b.Label != "", b.Env != "", b.Tag} {
		if set {
			n++
		}
	}
	if n > 1 {
		p.add("base_version", "", "give one of label, env or tag = true: the base's version is read from one place")
	}
	if b.Label != "" && !labelRE.MatchString(b.Label) {
		p.add("base_version.label", "base_version", "%q is not a label name; e.g. %q", b.Label, DefaultVersionLabel)
	}
	if b.Env != "" && !envNameRE.MatchString(b.Env) {
		p.add("base_version.env", "base_version", "%q is not an environment variable name; use letters, digits and '_'", b.Env)
	}
}

// AppVersion is the base application's version as plugin.toml templates see it
// ({{ .Base.Major }}): the numbers at the start of what was read ("1.42.3-fpm" is 1, 42, 3;
// what follows them is ignored), missing ones 0.
type AppVersion struct {
	Version             string // as read, e.g. "1.42.3"
	Major, Minor, Patch uint64
	nums                []uint64
}

var leadingVersionRE = regexp.MustCompile(`^[vV]?([0-9]+(?:\.[0-9]+){0,7})`)

// ParseAppVersion reads the version numbers at the start of s (an optional v first).
func ParseAppVersion(s string) (AppVersion, error) {
	m := leadingVersionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return AppVersion{}, fmt.Errorf("%q does not start with a version number (such as 1.42 or v3.5.1)", s)
	}
	v := AppVersion{Version: strings.TrimSpace(s)}
	for _, part := range strings.Split(m[1], ".") {
		n, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return AppVersion{}, fmt.Errorf("%q: number %s is too large", s, part)
		}
		v.nums = append(v.nums, n)
	}
	v.Major, v.Minor, v.Patch = at(v.nums, 0), at(v.nums, 1), at(v.nums, 2)
	return v, nil
}

func (v AppVersion) asVersion() version { return version{nums: v.nums} }

// IsTemplate reports whether a plugin.toml value follows the base ({{ .Base.Major }}).
func IsTemplate(s string) bool { return strings.Contains(s, "{{") }

// templateAction is one {{ ... }} of a plugin.toml value; only the base's version fields are
// allowed (no pipelines, functions or loops: a plugin.toml value is data, not a program).
var templateAction = regexp.MustCompile(`\{\{(.*?)\}\}`)

var templateField = regexp.MustCompile(`^\s*\.Base\.(Major|Minor|Patch|Version)\s*$`)

// Render fills a plugin.toml value's {{ .Base.Major }}, {{ .Base.Minor }}, {{ .Base.Patch }} and
// {{ .Base.Version }} with the base's version.
func Render(s string, base AppVersion) (string, error) {
	if !IsTemplate(s) {
		return s, nil
	}
	var bad string
	out := templateAction.ReplaceAllStringFunc(s, func(action string) string {
		m := templateField.FindStringSubmatch(action[2 : len(action)-2])
		if m == nil {
			if bad == "" {
				bad = action
			}
			return ""
		}
		switch m[1] {
		case "Major":
			return strconv.FormatUint(base.Major, 10)
		case "Minor":
			return strconv.FormatUint(base.Minor, 10)
		case "Patch":
			return strconv.FormatUint(base.Patch, 10)
		}
		return base.Version
	})
	switch {
	case bad != "":
		return "", fmt.Errorf("%s is not one of {{ .Base.Major }}, {{ .Base.Minor }}, {{ .Base.Patch }} or {{ .Base.Version }}", bad)
	case strings.Contains(out, "{{") || strings.Contains(out, "}}"):
		return "", fmt.Errorf("unbalanced {{ }}; write {{ .Base.Major }}, {{ .Base.Minor }}, {{ .Base.Patch }} or {{ .Base.Version }}")
	}
	return out, nil
}

// renderSample renders s with base version 1.2.3, to check its syntax while parsing.
func renderSample(s string) (string, error) {
	v, _ := ParseAppVersion("1.2.3")
	return Render(s, v)
}

// Range is a [compat] range of base versions: constraints joined by "," (all must hold), and
// alternatives joined by "||" (one must hold): ">=3.5, <5", ">=1.39, <1.42 || >=1.43".
type Range struct {
	raw  string
	alts [][]constraint
}

type constraint struct {
	op string
	v  version
}

var constraintRE = regexp.MustCompile(`^(>=|<=|!=|==|=|>|<)?\s*[vV]?([0-9]+(?:\.[0-9]+){0,7})$`)

// ParseRange reads a [compat] base range.
func ParseRange(s string) (Range, error) {
	r := Range{raw: s}
	for _, alt := range strings.Split(s, "||") {
		var cs []constraint
		for _, part := range strings.Split(alt, ",") {
			part = strings.TrimSpace(part)
			m := constraintRE.FindStringSubmatch(part)
			if m == nil {
				return Range{}, fmt.Errorf("%q is not a constraint; write an operator (>=, >, <=, <, =, !=) and a version, e.g. \">=3.5, <5\"", part)
			}
			v, _ := parseNumbers(m[2])
			op := m[1]
			if op == "" || op == "==" {
				op = "="
			}
			cs = append(cs, constraint{op, v})
		}
		r.alts = append(r.alts, cs)
	}
	return r, nil
}

func parseNumbers(s string) (version, bool) {
	var v version
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return version{}, false
		}
		v.nums = append(v.nums, n)
	}
	return v, true
}

// String is the range as written.
func (r Range) String() string { return r.raw }

// Allows reports whether base version v is in the range. Versions compare number by number,
// missing ones counting as 0 (<5 is below 5.0.0).
func (r Range) Allows(v AppVersion) bool {
	for _, alt := range r.alts {
		ok := true
		for _, c := range alt {
			if !c.holds(v.asVersion()) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c constraint) holds(v version) bool {
	d := v.compare(c.v)
	switch c.op {
	case ">=":
		return d >= 0
	case ">":
		return d > 0
	case "<=":
		return d <= 0
	case "<":
		return d < 0
	case "!=":
		return d != 0
	}
	return d == 0
}

func validateCompat(p *problems, c Compat) {
	if c.Base == "" {
		return
	}
	if _, err := ParseRange(c.Base); err != nil {
		p.add("compat.base", "compat", "%v", err)
	}
}
