package lockfile

import (
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
