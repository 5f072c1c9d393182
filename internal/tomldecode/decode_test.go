package tomldecode

import (
	"errors"
	"strings"
	"testing"
)

type sample struct {
	Base   string `toml:"base"`
	Source struct {
		Git string `toml:"git"`
		Ref string `toml:"ref"`
	} `toml:"source"`
	List []struct {
		Name string `toml:"name"`
	} `toml:"item"`
}

func TestDecodeNamesFileLineKey(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"unknown key":   {"base = \"x\"\n[source]\ngit = \"a\"\nbranch = \"main\"\n", "f.toml:4: source.branch: unknown key"},
		"wrong type":    {"base = \"x\"\n[source]\ngit = 3\n", "f.toml:3: source.git:"},
		"syntax":        {"base = \"x\"\n[source\n", "f.toml:2: TOML syntax error: "},
		"unquoted":      {"base = x\n", "f.toml:1: TOML syntax error: "},
		"unknown table": {"[sauce]\ngit = \"a\"\n", "f.toml:1: sauce: unknown key"},
	}
	for name, c := range cases {
		var s sample
		err := Decode("f.toml", []byte(c.in), &s)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %q, want prefix %q", name, err, c.want)
		}
		if strings.Contains(err.Error(), "\n") && name != "unknown table" {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

// Type mismatches say what was found and what to write, in TOML's terms, never Go's.
func TestDecodeWrongTypeInTOMLTerms(t *testing.T) {
	type typed struct {
		Hooks []string          `toml:"hooks"`
		Port  int               `toml:"port"`
		On    bool              `toml:"on"`
		Env   map[string]string `toml:"env"`
		Items []struct {
			Name string `toml:"name"`
		} `toml:"item"`
		Source struct {
			Git string `toml:"git"`
		} `toml:"source"`
	}
	cases := map[string]struct{ in, want string }{
		"string for list":    {"hooks = \"a.sh\"\n", `f.toml:1: hooks: wrong type: found a TOML string, want a list of strings, e.g. ["a", "b"]; fix the value`},
		"integer for string": {"[source]\ngit = 3\n", `f.toml:2: source.git: wrong type: found a TOML integer, want a string in quotes, e.g. "value"; fix the value`},
		"string for int":     {"port = \"80\"\n", "f.toml:1: port: wrong type: found a TOML string, want a whole number; fix the value"},
		"string for bool":    {"on = \"yes\"\n", "f.toml:1: on: wrong type: found a TOML string, want true or false; fix the value"},
		"list for table":     {"env = [\"A=1\"]\n", `f.toml:1: env: wrong type: found a TOML array, want a table of strings, e.g. { NAME = "value" }; fix the value`},
		"string for tables":  {"item = \"x\"\n", "f.toml:1: item: wrong type: found a TOML string, want a list of tables"},
	}
	for name, c := range cases {
		var v typed
		err := Decode("f.toml", []byte(c.in), &v)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v\nwant prefix %s", name, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "struct field") || strings.Contains(err.Error(), "[]string")) {
			t.Errorf("%s: Go type names in %q", name, err)
		}
	}
}

// An unknown key is most often a typo: name the key it is close to, else the keys allowed there.
func TestDecodeUnknownKeySuggests(t *testing.T) {
	cases := map[string]string{
		"bse = \"x\"\n":                                  `f.toml:1: bse: unknown key; did you mean "base"?`,
		"[source]\nbranch = \"main\"\n":                  "f.toml:2: source.branch: unknown key; remove it or check its spelling against the documented schema (keys allowed here: git, ref)",
		"[[item]]\nnames = \"a\"\n":                      `f.toml:2: item.names: unknown key; did you mean "name"?`,
		"[[item]]\nname = \"a\"\n[[item]]\ncolour = 1\n": "f.toml:4: item.colour: unknown key; remove it or check its spelling against the documented schema (keys allowed here: name)",
		"[sorce]\ngit = \"a\"\n":                         `f.toml:1: sorce: unknown key; did you mean "source"?`,
	}
	for in, want := range cases {
		var s sample
		err := Decode("f.toml", []byte(in), &s)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: error %v\nwant %s", in, err, want)
		}
	}
	// A map takes any key: nothing to suggest, and no panic on the way there.
	var m struct {
		Env map[string]struct {
			A string `toml:"a"`
		} `toml:"env"`
	}
	if err := Decode("f.toml", []byte("[env.x]\nb = 1\n"), &m); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("map: %v", err)
	}
}

func TestDecodeReportsEveryUnknownKey(t *testing.T) {
	var s sample
	err := Decode("f.toml", []byte("a = 1\nb = 2\nbase = \"x\"\n"), &s)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("want 2 errors, got %v", err)
	}
	if es[0].Line != 1 || es[1].Line != 2 || es[0].Key != "a" || es[1].Key != "b" {
		t.Errorf("errors = %+v %+v", es[0], es[1])
	}
}

func TestLineOf(t *testing.T) {
	data := []byte("# c\nbase = \"x\"\n\n[source]\n  git = \"u\"\n[[item]]\nname = \"a\"\n")
	for key, want := range map[string]int{"base": 2, "source": 4, "source.git": 5, "item": 6, "item.name": 7, "missing": 0} {
		if got := LineOf(data, key); got != want {
			t.Errorf("LineOf(%q) = %d, want %d", key, got, want)
		}
	}
}

// FuzzDecode: any input gives nil or a typed one-line-per-problem error, never a panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("base = \"x\"\n[source]\ngit = \"a\"\nref = \"main\"\n"))
	f.Add([]byte("[[item]]\nname = 1\n"))
	f.Add([]byte("[source\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sample
		err := Decode("f.toml", data, &s)
		if err == nil {
			return
		}
		var e *Error
		var es Errors
		if !errors.As(err, &e) && !errors.As(err, &es) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
		if !strings.HasPrefix(err.Error(), "f.toml") {
			t.Fatalf("error does not name the file: %q", err)
		}
		LineOf(data, "source.git")
	})
}
