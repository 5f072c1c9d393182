// Package render turns launcher.toml's templates into the application's config files. Each file
// is written atomically (temporary file in the destination folder, then rename) so the app never
// reads a half-written config, even when `exec` renders while the app is running.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/graft-build/graft/launcher/config"
)

// Data is what templates see.
type Data struct {
	Settings   map[string]string // setting name -> resolved value
	Components []string          // selected component names
	Snippets   []config.Snippet  // the default target's snippets in lock order (.Plugin, .Text)
	All        []config.Snippet  // every snippet, every target, in lock order
}

// Target returns the snippets for one named target in lock order: {{ range .Target "launcher_rc.rb" }}.
// An unknown target has none.
func (d Data) Target(name string) []config.Snippet {
	out := []config.Snippet{}
	for _, s := range d.All {
		if s.Target == name {
			out = append(out, s)
		}
	}
	return out
}

// NewData builds the template data from the resolved settings, the selected components and
// every snippet of launcher.toml.
func NewData(settings map[string]string, components []string, snippets []config.Snippet) Data {
	d := Data{Settings: settings, Components: components, All: snippets}
	d.Snippets = d.Target("")
	return d
}

// Funcs are the helpers templates may call; they quote values for common config languages so a
// value containing quotes cannot break (or inject into) the rendered file.
var funcs = template.FuncMap{
	"json":    jsonString,
	"squote":  singleQuote,
	"shquote": shellQuote,
	"has":     func(list []string, s string) bool { return contains(list, s) },
}

// Secrets says which settings are secret and what their values are.
type Secrets struct {
	Names  map[string]bool // setting names whose value is secret (and non-empty)
	Values []string        // the secret values themselves
}

// File renders one template. The file is private (mode 0600, whatever mode an existing
// destination had) when the template reads a secret setting, however it then escapes or
// transforms the value, or when the output holds a secret value verbatim. Otherwise a new file
// is 0644 and an existing one keeps its mode.
func File(t config.Template, data Data, secrets Secrets) error {
	src, err := os.ReadFile(t.Src)
	if err != nil {
		return fmt.Errorf("template %s: %w", t.Src, err)
	}
	tmpl, err := template.New(filepath.Base(t.Src)).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return fmt.Errorf("template %s: %w", t.Src, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, data); err != nil {
		return fmt.Errorf("template %s: %w", t.Src, err)
	}
	mode, force := os.FileMode(0o644), false
	if readsSecret(tmpl, secrets.Names) || holdsSecret(out.Bytes(), secrets.Values) {
		mode, force = 0o600, true
	}
	if err := writeFile(t.Dest, out.Bytes(), mode, force); err != nil {
		return fmt.Errorf("template %s: %w", t.Src, err)
	}
	return nil
}

// Private reports whether the template at src reads a secret setting, so its file will be
// written 0600 (the output may make it private too, when it holds a secret verbatim).
func Private(src string, secretNames map[string]bool) (bool, error) {
	text, err := os.ReadFile(src)
	if err != nil {
		return false, fmt.Errorf("template %s: %w", src, err)
	}
	tmpl, err := template.New(filepath.Base(src)).Funcs(funcs).Parse(string(text))
	if err != nil {
		return false, fmt.Errorf("template %s: %w", src, err)
	}
	return readsSecret(tmpl, secretNames), nil
}

func holdsSecret(out []byte, values []string) bool {
	for _, s := range values {
		if s != "" && bytes.Contains(out, []byte(s)) {
			return true
		}
	}
	return false
}

// readsSecret reports whether any template of the set may read a secret setting.
func readsSecret(tmpl *template.Template, secret map[string]bool) bool {
	if len(secret) == 0 {
		return false
	}
	r := settingReads{names: map[string]bool{}}
	for _, t := range tmpl.Templates() {
		if t.Tree != nil && t.Tree.Root != nil {
			// In a define'd template dot is whatever the caller passed: assume the root data.
			r.walk(t.Tree.Root, true)
		}
	}
	if r.all {
		return true
	}
	for name := range r.names {
		if secret[name] {
			return true
		}
	}
	return false
}

// writeFile writes data to path through a temporary file in the same folder and a rename, so
// a symlink at path is replaced, never followed. An existing regular file keeps its owner, and
// its mode too unless force is set.
func writeFile(path string, data []byte, mode os.FileMode, force bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("write %s: uid %d cannot create the folder %s (%v): create it in the image owned by uid %d, or choose a dest in a folder that user can write", path, os.Geteuid(), dir, err, os.Geteuid())
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	uid, gid := -1, -1
	if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
		if !force {
			mode = fi.Mode().Perm()
		}
		uid, gid = ownerOf(fi)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = writeSync(f, data, mode, uid, gid)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeSync(f *os.File, data []byte, mode os.FileMode, uid, gid int) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && uid >= 0 && os.Geteuid() == 0 {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// singleQuote gives a single-quoted literal for Ruby, Python or YAML-ish configs: backslash and
// quote escaped, no interpolation.
func singleQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, `'`, `\'`) + "'"
}

// shellQuote gives a POSIX shell single-quoted word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, `'`, `'\''`) + "'"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
