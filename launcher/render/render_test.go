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
	if err := File(tp, data, Secrets{}); err != nil {
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
	sec := Secrets{Names: map[string]bool{"pw": true}, Values: []string{"hunter2"}}
	if err := File(tp, data, sec); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 for a file holding a secret", fi.Mode().Perm())
	}
	// An existing, more open destination becomes private too.
	os.Chmod(tp.Dest, 0o644)
	if err := File(tp, data, sec); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600 over the existing 0644", fi.Mode().Perm())
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
	err := File(tp, Data{Settings: map[string]string{"pw": "hunter2"}}, Secrets{})
	if err == nil || !strings.Contains(err.Error(), "typo") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(tp.Dest); string(got) != "previous\n" {
		t.Fatalf("destination changed: %q", got)
	}
	if err := File(tmpl(t, "{{ .Settings.a "), Data{}, Secrets{}); err == nil {
		t.Fatal("parse error not reported")
	}
}

// The mode follows what the template read, not whether the raw value shows in the output: an
// escaped, encoded or transformed secret is still a secret.
func TestFileModeFollowsSecretReads(t *testing.T) {
	secret := `p"w\1`
	data := Data{Settings: map[string]string{"pw": secret, "title": "Archives"}, Components: []string{"backend"},
		Snippets: []config.Snippet{{Plugin: "p", Text: "x"}}}
	sec := Secrets{Names: map[string]bool{"pw": true}, Values: []string{secret}}
	private := map[string]string{
		"json":         `pw = {{ json .Settings.pw }}`,
		"shquote":      `pw = {{ shquote .Settings.pw }}`,
		"printf":       `pw = {{ printf "%q" .Settings.pw }}`,
		"len only":     `n = {{ len .Settings.pw }}`,
		"root var":     `{{ with .Components }}{{ $.Settings.pw | json }}{{ end }}`,
		"index":        `{{ index .Settings "pw" | json }}`,
		"index var":    `{{ $k := "pw" }}{{ index .Settings $k | json }}`,
		"with":         `{{ with .Settings }}{{ json .pw }}{{ end }}`,
		"range":        `{{ range $k, $v := .Settings }}{{ json $v }}{{ end }}`,
		"variable":     `{{ $s := .Settings }}{{ json $s.pw }}`,
		"whole data":   `{{ printf "%v" . }}`,
		"sub template": `{{ define "x" }}{{ json .Settings.pw }}{{ end }}{{ template "x" . }}`,
		"if":           `{{ if .Settings.pw }}set{{ end }}`,
	}
	public := map[string]string{
		"other setting": `title = {{ squote .Settings.title }}`,
		"index other":   `{{ index .Settings "title" }}`,
		"snippets":      `{{ range .Snippets }}{{ .Text }}{{ end }}{{ if has .Components "backend" }}b{{ end }}`,
	}
	for name, text := range private {
		tp := tmpl(t, text)
		if err := File(tp, data, sec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	for name, text := range public {
		tp := tmpl(t, text)
		if err := File(tp, data, sec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi, _ := os.Stat(tp.Dest); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", name, fi.Mode().Perm())
		}
	}
}

// A symlink at the destination is replaced by the rendered file; its target is not written.
func TestFileReplacesASymlinkedDestination(t *testing.T) {
	tp := tmpl(t, "pw = {{ json .Settings.pw }}\n")
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte("untouched"), 0o644)
	os.MkdirAll(filepath.Dir(tp.Dest), 0o755)
	if err := os.Symlink(target, tp.Dest); err != nil {
		t.Fatal(err)
	}
	sec := Secrets{Names: map[string]bool{"pw": true}, Values: []string{"hunter2"}}
	if err := File(tp, Data{Settings: map[string]string{"pw": "hunter2"}}, sec); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); string(got) != "untouched" {
		t.Fatalf("symlink target written: %q", got)
	}
	fi, err := os.Lstat(tp.Dest)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("dest: %v %v", fi, err)
	}
}
