package lockfile

import (
	"github.com/pelletier/go-toml/v2"
	"strings"
	"testing"
)

// EditRef changes the one value and leaves every other byte alone, whatever the layout.
func TestEditRefKeepsTheRestOfTheFile(t *testing.T) {
	for name, c := range map[string]struct{ in, want string }{
		"table": {
			"# Cambridge's oauth\n[source]\ngit = \"https://x/y.git\"   # upstream\nref = \"v1.0\" # pinned\n\n[config]\nsnippet = \"\"\"\nref = \"v1.0\"\n\"\"\"\n",
			"# Cambridge's oauth\n[source]\ngit = \"https://x/y.git\"   # upstream\nref = \"v1.5.5\" # pinned\n\n[config]\nsnippet = \"\"\"\nref = \"v1.0\"\n\"\"\"\n",
		},
		"literal":          {"[source]\r\ngit='g'\r\nref    =    'v1.0'\r\n", "[source]\r\ngit='g'\r\nref    =    'v1.5.5'\r\n"},
		"dotted":           {"source.git = \"g\"\nsource.ref = \"v1.0\"\n", "source.git = \"g\"\nsource.ref = \"v1.5.5\"\n"},
		"inline":           {"source = { git = \"g\", ref = \"v1.0\" }\n", "source = { git = \"g\", ref = \"v1.5.5\" }\n"},
		"no final newline": {"[source]\ngit = \"g\"\nref = \"v1.0\"", "[source]\ngit = \"g\"\nref = \"v1.5.5\""},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := EditRef("plugin.toml", []byte(c.in), "v1.5.5")
			if err != nil || string(got) != c.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, c.want)
			}
		})
	}
	if _, err := EditRef("p.toml", []byte("[source]\ngit = \"g\"\n"), "v2"); err == nil || !strings.Contains(err.Error(), "found 0 source.ref") {
		t.Errorf("no ref: %v", err)
	}
	if _, err := EditRef("p.toml", []byte("[source]\nref = \"v1\"\n"), "v2\"\ninjected = 1"); err == nil {
		t.Error("a ref with a quote and newline was written")
	}
}

// Whatever the file, EditRef either refuses or changes exactly the ref's value: the result
// decodes with the new ref and only bytes inside the new quoted value differ from the input.
func FuzzEditRef(f *testing.F) {
	for _, s := range []string{"[source]\ngit = \"g\"\nref = \"v1\"\n", "source = { git = 'g', ref = 'v1' }", "source.ref = \"\"\"v1\"\"\"\n", "[source]\nref = 1\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := EditRef("p.toml", []byte(in), "v9.9.9")
		if err != nil {
			return
		}
		var pl Plugin
		if err := toml.Unmarshal(out, &pl); err != nil {
			if toml.Unmarshal([]byte(in), &pl) == nil {
				t.Fatalf("valid input became invalid: %q -> %q: %v", in, out, err)
			}
			return
		}
		if pl.Source.Ref != "v9.9.9" {
			t.Fatalf("%q -> %q: ref %q", in, out, pl.Source.Ref)
		}
		// The bytes that differ lie inside the new quoted value.
		pre := 0
		for pre < len(in) && pre < len(out) && in[pre] == out[pre] {
			pre++
		}
		suf := 0
		for suf < len(in)-pre && suf < len(out)-pre && in[len(in)-1-suf] == out[len(out)-1-suf] {
			suf++
		}
		mid := string(out[pre : len(out)-suf])
		if !strings.Contains(`"v9.9.9"`, mid) && !strings.Contains(`'v9.9.9'`, mid) {
			t.Fatalf("%q -> %q: changed %q", in, out, mid)
		}
	})
}
