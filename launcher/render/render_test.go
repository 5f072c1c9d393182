package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/launcher/config"
)

func tmpl(t *testing.T, text string) config.Template {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "in.tmpl")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return config.Template{Src: src, Dest: filepath.Join(dir, "out", "config.rb")}
}

func TestFileRendersDataAndQuotes(t *testing.T) {
	tp := tmpl(t, `a = {{squote .Settings.a}}
b = {{json .Settings.a}}
c = {{shquote .Settings.a}}
{{if has .Components "backend"}}backend on{{end}}
{{range .Snippets}}# {{.Plugin}}
{{.Text}}
{{end}}`)
	data := Data{Settings: map[string]string{"a": `it's "x" \ #{y}`}, Components: []string{"backend"},
		Snippets: []config.Snippet{{Plugin: "p1", Text: "one"}, {Plugin: "p2", Text: "two"}}}
	if err := File(tp, data, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(tp.Dest)
	want := `a = 'it\'s "x" \\ #{y}'
b = "it's \"x\" \\ #{y}"
c = 'it'\''s "x" \ #{y}'
backend on
# p1
one
# p2
two
`
	if string(got) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644 without secrets", fi.Mode().Perm())
	}
}

func TestFileModes(t *testing.T) {
	tp := tmpl(t, "pw = {{.Settings.pw}}\n")
	data := Data{Settings: map[string]string{"pw": "hunter2"}}
	if err := File(tp, data, []string{"hunter2"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 for a file holding a secret", fi.Mode().Perm())
	}
	// An existing destination keeps its mode.
	os.Chmod(tp.Dest, 0o640)
	if err := File(tp, data, []string{"hunter2"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the existing 0640", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(tp.Dest))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestFileErrorsLeaveDestinationUntouched(t *testing.T) {
	tp := tmpl(t, "x = {{.Settings.typo}}\n")
	os.MkdirAll(filepath.Dir(tp.Dest), 0o755)
	os.WriteFile(tp.Dest, []byte("previous\n"), 0o644)
	err := File(tp, Data{Settings: map[string]string{"pw": "hunter2"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "typo") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(tp.Dest); string(got) != "previous\n" {
		t.Fatalf("destination changed: %q", got)
	}
	if err := File(tmpl(t, "{{ .Settings.a "), Data{}, nil); err == nil {
		t.Fatal("parse error not reported")
	}
}
