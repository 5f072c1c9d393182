// Package config is the schema of launcher.toml: what graft-launcher reads at start, what
// graft.toml's [launcher] table holds, and what `graft build` writes into the image after merging
// every plugin's contributions. It is shared by the launcher and the builder, so it links only
// go-toml.
package config

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/graft-build/graft/internal/tomldecode"
)

// DefaultPath is where the image carries its launcher configuration.
const DefaultPath = "/etc/graft/launcher.toml"

// DefaultPortDir holds the port files when neither GRAFT_PORT_DIR nor port_dir is set.
const DefaultPortDir = "/run/graft/ports"

// Config is one launcher.toml.
type Config struct {
	TmpDir  string `toml:"tmp_dir,omitempty"`
	PortDir string `toml:"port_dir,omitempty"`
	// PluginsDir is where graft build installed the plugins (graft.toml's plugins_dir); the
	// launcher only protects it: tmp_dir may never be or hold it.
	PluginsDir string      `toml:"plugins_dir,omitempty"`
	Settings   []Setting   `toml:"setting,omitempty"`
	Templates  []Template  `toml:"template,omitempty"`
	Snippets   []Snippet   `toml:"snippet,omitempty"`
	Hooks      []Hook      `toml:"hook,omitempty"`
	Processes  []Process   `toml:"process,omitempty"`
	Components []Component `toml:"component,omitempty"`
}

// Setting is an application setting whose value comes from env or env_FILE.
type Setting struct {
	Name     string `toml:"name"`
	Env      string `toml:"env"`
	Default  string `toml:"default,omitempty"`
	Required bool   `toml:"required,omitempty"`
	Secret   bool   `toml:"secret,omitempty"`
}

// Template is a Go text/template rendered at start; data: .Settings, .Components, .Snippets.
type Template struct {
	Src  string `toml:"src"`
	Dest string `toml:"dest"`
}

// Snippet is a plugin's config snippet; graft build writes them in lock order (or graft.toml's
// plugin_order). Target names the file or hook point it is for; "" is the default target,
// which templates see as .Snippets.
type Snippet struct {
	Plugin string `toml:"plugin"`
	Target string `toml:"target,omitempty"`
	Text   string `toml:"text"`
}

// Hook runs before components start; a failing hook is a startup failure.
type Hook struct {
	Name string            `toml:"name"`
	Run  []string          `toml:"run"`
	Env  map[string]string `toml:"env,omitempty"` // added to the environment the hook sees
	Dir  string            `toml:"dir,omitempty"` // working directory (default: the launcher's)
}

// Process is one program; it may serve several components (one JVM, say).
type Process struct {
	Name       string            `toml:"name"`
	Command    []string          `toml:"command"`
	Components []string          `toml:"components"`
	Dir        string            `toml:"dir,omitempty"`  // working directory (default: the launcher's)
	Env        map[string]string `toml:"env,omitempty"`  // added to the environment the process sees
	User       string            `toml:"user,omitempty"` // numeric "uid" or "uid:gid"; needs root
}

// Component is what users select and orchestrators probe.
type Component struct {
	Name   string `toml:"name"`
	Port   int    `toml:"port"`
	Health string `toml:"health,omitempty"` // HTTP path; empty means TCP connect
	// FailOn are regular expressions (RE2) matched against each line the serving process
	// prints while the component starts: a match fails startup at once (an app that logs a
	// fatal error but keeps running, such as Jetty after "Failed startup of context").
	FailOn []string `toml:"fail_on,omitempty"`
}

// Parse decodes and validates launcher.toml content. file is used in messages only.
func Parse(file string, data []byte) (*Config, error) {
	var c Config
	if err := tomldecode.Decode(file, data, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(file, data); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks what decoding cannot: required keys, references between tables, duplicates.
// data (may be nil) is the source the config came from, used to give line numbers.
func (c *Config) Validate(file string, data []byte) error {
	var errs tomldecode.Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, &tomldecode.Error{File: file, Line: tomldecode.LineOf(data, key), Key: key,
			Msg: fmt.Sprintf(format, args...)})
	}
	for _, d := range []struct{ key, val string }{{"tmp_dir", c.TmpDir}, {"port_dir", c.PortDir}, {"plugins_dir", c.PluginsDir}} {
		if d.val == "" {
			continue
		}
		if err := CheckDir(d.key, d.val); err != nil {
			add(d.key, "%v", err)
		}
	}
	// unique checks that entry #i of a [[key]] list has a name no other entry has.
	unique := func(key string, seen map[string]bool, i int, name, hint string) {
		if name == "" {
			add(key, "%s #%d has no name%s", key, i+1, hint)
		} else if seen[name] {
			add(key, "%s %q is declared twice; keep one", key, name)
		}
		seen[name] = true
	}
	settings := map[string]bool{}
	for i, s := range c.Settings {
		unique("setting", settings, i, s.Name, "; add name = \"...\"")
		if s.Env == "" {
			add("setting", "setting %q has no env; add env = \"VARIABLE\"", s.Name)
		}
	}
	for i, t := range c.Templates {
		if t.Src == "" || t.Dest == "" {
			add("template", "template #%d needs both src and dest", i+1)
		}
	}
	for i, h := range c.Hooks {
		if h.Name == "" {
			add("hook", "hook #%d has no name; add name = \"...\"", i+1)
		}
		if len(h.Run) == 0 {
			add("hook", "hook #%d (%s) has an empty run; give the command as a list", i+1, h.Name)
		}
	}
	components := map[string]bool{}
	for i, comp := range c.Components {
		unique("component", components, i, comp.Name, "")
		if comp.Port < 1 || comp.Port > 65535 {
			add("component", "component %q has port %d; give a port from 1 to 65535", comp.Name, comp.Port)
		}
		for _, pat := range comp.FailOn {
			if _, err := regexp.Compile(pat); err != nil || pat == "" {
				add("component", "component %q: fail_on %q is not a regular expression (RE2) that matches something; escape special characters, e.g. \"Failed startup\"", comp.Name, pat)
			}
		}
	}
	served := map[string]string{}
	processes := map[string]bool{}
	for i, p := range c.Processes {
		if p.Name == "" {
			add("process", "process #%d has no name; add name = \"...\"", i+1)
		} else if processes[p.Name] {
			add("process", "process %q is declared twice; keep one", p.Name)
		}
		processes[p.Name] = true
		if len(p.Command) == 0 {
			add("process", "process #%d (%s) has an empty command", i+1, p.Name)
		}
		if _, _, err := ParseUser(p.User); err != nil {
			add("process", "process %q: %v", p.Name, err)
		}
		for _, name := range p.Components {
			if !components[name] {
				add("process", "process %q serves component %q, which no [[component]] declares", p.Name, name)
			}
			if other, dup := served[name]; dup {
				add("process", "component %q is served by both %q and %q; keep one", name, other, p.Name)
			}
			served[name] = p.Name
		}
	}
	return errs.Err()
}

// CheckDir checks a folder the launcher writes to or empties (tmp_dir, port_dir, or the
// GRAFT_TMP_DIR / GRAFT_PORT_DIR overrides): absolute, so it does not depend on the working
// directory, and not the filesystem root once cleaned. name is the key or variable shown.
func CheckDir(name, dir string) error {
	switch {
	case !path.IsAbs(dir):
		return fmt.Errorf("%s %q is not absolute; give the absolute path of a folder of the app's own", name, dir)
	case path.Clean(dir) == "/":
		return fmt.Errorf("%s %q is the filesystem root; give a folder of the app's own", name, dir)
	}
	return nil
}

// ParseUser reads a process's user field: "" (keep the launcher's), "uid" or "uid:gid", both
// numeric so that no /etc/passwd lookup is needed in minimal images.
func ParseUser(s string) (uid, gid uint32, err error) {
	if s == "" {
		return 0, 0, nil
	}
	u, g, hasGid := strings.Cut(s, ":")
	uid64, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: give a numeric uid or uid:gid", s)
	}
	gid64 := uid64
	if hasGid {
		if gid64, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("user %q: give a numeric uid or uid:gid", s)
		}
	}
	return uint32(uid64), uint32(gid64), nil
}

// Marshal encodes c deterministically (field order fixed by the struct, lists kept in order).
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(false)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode launcher config: %w", err)
	}
	return buf.Bytes(), nil
}
