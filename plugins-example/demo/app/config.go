// Package app is demo-app: a small stand-in for ArchivesSpace used to prove graft end to end.
// Like ArchivesSpace it has four components (backend, frontend, public, indexer) on their own
// ports that run alone or together in one process, reads one config file (rendered by
// graft-launcher from a template), keeps its state outside the container (a folder on a volume)
// and loads plugins from plugins_dir.
package app

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Components in start order: the backend first, as the others call it.
var Components = []string{"backend", "frontend", "public", "indexer"}

// DefaultPorts follow ArchivesSpace's defaults.
var DefaultPorts = map[string]int{"backend": 8089, "frontend": 8080, "public": 8081, "indexer": 8091}

// Config is the parsed config file: `key = value` lines, `#` comments, later lines win (so a
// plugin snippet appended by the template can override a site default).
type Config struct {
	File          string
	Values        map[string]string
	lines         map[string]int
	Version       string
	Components    []string
	DBDir         string
	PluginsDir    string
	BackendURL    string
	Ports         map[string]int
	ShutdownDelay time.Duration
	IndexInterval time.Duration
}

// ConfigError is one bad line: it names the file, line and key, and what to do.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Key, e.Msg)
}

// ParseConfig reads the config format. file is used in messages only.
func ParseConfig(file string, data []byte) (*Config, error) {
	c := &Config{File: file, Values: map[string]string{}, lines: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, &ConfigError{File: file, Line: n, Key: firstWord(line),
				Msg: "not a `key = value` line; write one setting per line"}
		}
		c.Values[key] = strings.TrimSpace(value)
		c.lines[key] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if err := c.interpret(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadConfig reads and parses the config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, data)
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func (c *Config) errorf(key, format string, args ...any) error {
	return &ConfigError{File: c.File, Line: c.lines[key], Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Get returns a value ("" when absent).
func (c *Config) Get(key string) string { return c.Values[key] }

func (c *Config) interpret() error {
	c.Version = c.getDefault("app_version", "1.0.0")
	if err := c.interpretDB(); err != nil {
		return err
	}
	if c.Get("secret_key") == "" {
		return c.errorf("secret_key", "is required (the session signing secret); set it, e.g. from a *_FILE secret")
	}
	c.PluginsDir = c.getDefault("plugins_dir", "/srv/demo/plugins")
	c.BackendURL = strings.TrimRight(c.getDefault("backend_url", "http://localhost:8089"), "/")
	if u, err := url.Parse(c.BackendURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c.errorf("backend_url", "%q is not an http(s) URL; give e.g. http://backend:8089", c.BackendURL)
	}
	if err := c.interpretComponents(); err != nil {
		return err
	}
	var err error
	if c.ShutdownDelay, err = c.duration("shutdown_delay", "0s"); err != nil {
		return err
	}
	c.IndexInterval, err = c.duration("index_interval", "5s")
	return err
}

func (c *Config) getDefault(key, def string) string {
	if v := c.Get(key); v != "" {
		return v
	}
	return def
}

// interpretDB accepts file:///absolute/dir: the state lives in a folder on a volume shared by
// every replica, so replicas are interchangeable.
func (c *Config) interpretDB() error {
	raw := c.Get("db_url")
	if raw == "" {
		return c.errorf("db_url", "is required; give file:///DIR, a folder on a volume")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" || !strings.HasPrefix(u.Path, "/") {
		// Never echo the value: a database URL may hold a password.
		return c.errorf("db_url", "is not a file:///DIR URL; give the absolute folder that holds the data")
	}
	c.DBDir = u.Path
	return nil
}

func (c *Config) interpretComponents() error {
	c.Ports = map[string]int{}
	for _, name := range Components {
		key := name + "_port"
		port, err := strconv.Atoi(c.getDefault(key, strconv.Itoa(DefaultPorts[name])))
		if err != nil || port < 1 || port > 65535 {
			return c.errorf(key, "%q is not a port; give a number from 1 to 65535", c.Get(key))
		}
		c.Ports[name] = port
	}
	for _, name := range strings.FieldsFunc(c.Get("components"), isListSep) {
		if _, ok := DefaultPorts[name]; !ok {
			return c.errorf("components", "unknown component %q; choose from %s", name, strings.Join(Components, ", "))
		}
		c.Components = append(c.Components, name)
	}
	return nil
}

func isListSep(r rune) bool { return r == ',' || r == ' ' || r == '\t' }

func (c *Config) duration(key, def string) (time.Duration, error) {
	d, err := time.ParseDuration(c.getDefault(key, def))
	if err != nil || d < 0 {
		return 0, c.errorf(key, "%q is not a duration; give e.g. 5s", c.Get(key))
	}
	return d, nil
}

// SelectComponents picks what to serve: the arguments, else the config's components, else all.
// The result follows the start order and has no duplicates.
func (c *Config) SelectComponents(args []string) ([]string, error) {
	want := args
	if len(want) == 0 {
		want = c.Components
	}
	if len(want) == 0 {
		return append([]string(nil), Components...), nil
	}
	set := map[string]bool{}
	for _, name := range want {
		if _, ok := DefaultPorts[name]; !ok {
			return nil, fmt.Errorf("unknown component %q; choose from %s", name, strings.Join(Components, ", "))
		}
		set[name] = true
	}
	var out []string
	for _, name := range Components {
		if set[name] {
			out = append(out, name)
		}
	}
	return out, nil
}
