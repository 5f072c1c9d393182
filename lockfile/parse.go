package lockfile

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/tomldecode"
	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/lockfile/gitremote"
)

var (
	pluginNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	envNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	secretIDRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	platformRE   = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
	fullSHARE    = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// problems collects post-decode findings for one file, each pointing at the key's line.
type problems struct {
	file string
	data []byte
	errs tomldecode.Errors
}

// add records a problem with key; line is looked up from key, or from at when key is absent
// from the file (a missing required key points at its table).
func (p *problems) add(key, at, format string, args ...any) {
	line := tomldecode.LineOf(p.data, key)
	if line == 0 && at != "" {
		line = tomldecode.LineOf(p.data, at)
	}
	p.errs = append(p.errs, &tomldecode.Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// ParseSite decodes and validates graft.toml. file names it in messages. Every error is a
// *tomldecode.Error or tomldecode.Errors (one line per problem).
func ParseSite(file string, data []byte) (*Site, error) {
	var s Site
	if err := tomldecode.Decode(file, data, &s); err != nil {
		return nil, err
	}
	p := &problems{file: file, data: data}
	validateSite(p, &s)
	if err := s.Launcher.Validate(file, data); err != nil {
		p.errs = append(p.errs, underLauncher(err, data)...)
	}
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// underLauncher re-roots launcher.toml errors at graft.toml's [launcher] table, so keys and
// lines point where the user wrote them.
func underLauncher(err error, data []byte) tomldecode.Errors {
	var out tomldecode.Errors
	add := func(e *tomldecode.Error) {
		c := *e
		if c.Key != "" {
			c.Key = "launcher." + c.Key
		} else {
			c.Key = "launcher"
		}
		c.Line = tomldecode.LineOf(data, c.Key)
		if c.Line == 0 {
			c.Line = tomldecode.LineOf(data, "launcher")
		}
		out = append(out, &c)
	}
	switch e := err.(type) {
	case *tomldecode.Error:
		add(e)
	case tomldecode.Errors:
		for _, x := range e {
			add(x)
		}
	default:
		out = append(out, &tomldecode.Error{Key: "launcher", Msg: err.Error()})
	}
	return out
}

func validateSite(p *problems, s *Site) {
	if s.Base == "" {
		p.add("base", "", `missing; set base = "registry/repo:tag" or "oci-layout://DIR[:tag|@digest]"`)
	} else if err := imageref.CheckSyntax(s.Base); err != nil {
		p.add("base", "", "%v", err)
	}
	switch {
	case s.PluginsDir == "":
		p.add("plugins_dir", "", `missing; set plugins_dir = "/absolute/path" where plugins are installed in the image`)
	case !path.IsAbs(s.PluginsDir):
		p.add("plugins_dir", "", "%q is not absolute; give the absolute path inside the image", s.PluginsDir)
	case path.Clean(s.PluginsDir) != s.PluginsDir:
		p.add("plugins_dir", "", "%q is not a clean path; write %q", s.PluginsDir, path.Clean(s.PluginsDir))
	}
	if s.Launcher.PluginsDir != "" {
		p.add("launcher.plugins_dir", "", "is set by graft build from graft.toml's top-level plugins_dir; remove it from [launcher]")
	}
	if s.Owner != "" && !validOwner(s.Owner) {
		p.add("owner", "", `%q is not numeric uid:gid; write e.g. owner = "1000:1000"`, s.Owner)
	}
	for _, pl := range s.Platforms {
		if !platformRE.MatchString(pl) {
			p.add("platforms", "", "%q is not os/arch[/variant]; write e.g. \"linux/amd64\"", pl)
		}
	}
	validateHealthcheck(p, s.Healthcheck)
	validateBaseVersion(p, s.BaseVersion)
	validatePluginOrder(p, s.PluginOrder)
	dests := map[string]bool{}
	for i, t := range s.Launcher.Templates {
		if t.Dest != "" && dests[t.Dest] {
			p.addAt(entryKey{"launcher.template", i, "dest"},
				"%q is the dest of another template too; each file is rendered by one template: keep one", t.Dest)
		}
		dests[t.Dest] = true
	}
	seen := map[string]bool{}
	for i, m := range s.Mirrors {
		if m.Prefix == "" || m.URL == "" {
			p.add("mirror", "", "[[mirror]] #%d needs both prefix and url", i+1)
			continue
		}
		if seen[m.Prefix] {
			p.add("mirror", "", "prefix %q is given twice; keep one [[mirror]]", m.Prefix)
		}
		seen[m.Prefix] = true
		if err := gitremote.Check(m.URL); err != nil {
			p.add("mirror", "", "url %q: %v", m.URL, err)
		}
	}
}

// validateHealthcheck checks [healthcheck] against what Docker accepts: durations of at least
// 1ms (0 would mean "inherit", which a user writing the key does not mean), retries >= 0.
func validateHealthcheck(p *problems, h Healthcheck) {
	for _, d := range []struct{ key, value string }{
		{"interval", h.Interval}, {"timeout", h.Timeout}, {"start_period", h.StartPeriod},
	} {
		if d.value == "" {
			continue
		}
		if v, err := time.ParseDuration(d.value); err != nil || v < time.Millisecond {
			p.add("healthcheck."+d.key, "healthcheck", "%q is not a duration of at least 1ms; write e.g. \"10s\" or \"1m30s\"", d.value)
		}
	}
	if h.Retries < 0 {
		p.add("healthcheck.retries", "healthcheck", "%d is negative; give the number of failures in a row that make the container unhealthy, e.g. 3", h.Retries)
	}
}

// Durations returns the parsed durations (zero where unset). ParseSite has validated them.
func (h Healthcheck) Durations() (interval, timeout, startPeriod time.Duration) {
	parse := func(s string) time.Duration { d, _ := time.ParseDuration(s); return d }
	return parse(h.Interval), parse(h.Timeout), parse(h.StartPeriod)
}

func validOwner(s string) bool {
	uid, gid, ok := strings.Cut(s, ":")
	return ok && isUint32(uid) && isUint32(gid)
}

func isUint32(s string) bool {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// ParsePlugin decodes and validates plugins/<name>/plugin.toml; name is the folder's name.
func ParsePlugin(file, name string, data []byte) (*Plugin, error) {
	var pl Plugin
	if err := tomldecode.Decode(file, data, &pl); err != nil {
		return nil, err
	}
	pl.Name = name
	p := &problems{file: file, data: data}
	if !pluginNameRE.MatchString(name) {
		p.errs = append(p.errs, &tomldecode.Error{File: file, Msg: fmt.Sprintf(
			"plugin folder name %q is not allowed; rename the folder to lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", name)})
	}
	validateSource(p, &pl.Source)
	validateInstall(p, &pl)
	validateCompat(p, pl.Compat)
	validateBuild(p, &pl.Build)
	validateLauncher(p, &pl.Launcher)
	validateConfig(p, &pl.Config)
	if err := p.errs.Err(); err != nil {
		return nil, err
	}
	if pl.Source.Path == "." {
		pl.Source.Path = "" // the repository's root folder is the whole repository
	}
	return &pl, nil
}

// validateLocal checks a local source: a folder inside the plugin's folder, and none of the
// keys that only mean something for a git repository.
func validateLocal(p *problems, s *Source) {
	if msg := checkRelPath(s.Local); msg != "" {
		p.add("source.local", "source", "%q %s; give a folder inside the plugin's folder, e.g. \"files\" (or \".\" for the plugin's folder itself)", s.Local, msg)
	}
	for _, k := range []struct{ key, value, why string }{
		{"git", s.Git, "a source is either a git repository or a local folder"},
		{"ref", s.Ref, "a local folder has no ref: graft lock pins its content hash"},
		{"path", s.Path, "point local at the folder to install instead"},
	} {
		if k.value != "" {
			p.add("source."+k.key, "source", "not allowed with local = %q (%s); remove it", s.Local, k.why)
		}
	}
}

// checkRelPath returns why a path relative to a repository or plugin folder is unacceptable.
func checkRelPath(s string) string {
	switch {
	case s == "":
		return ""
	case path.IsAbs(s) || strings.HasPrefix(s, "\\"):
		return "is absolute"
	case s == ".." || strings.HasPrefix(s, "../") || strings.Contains(s, "/../") || strings.HasSuffix(s, "/.."):
		return "leaves the repository (\"..\")"
	case strings.ContainsRune(s, 0):
		return "contains a NUL byte"
	case path.Clean(s) != s:
		return fmt.Sprintf("is not a clean path (write %q)", path.Clean(s))
	}
	return ""
}

func validateBuild(p *problems, b *Build) {
	for i, r := range b.Run {
		if strings.TrimSpace(r) == "" {
			p.add("build.run", "build", "command #%d is empty; remove it", i+1)
		}
	}
	for k := range b.Env {
		if !envNameRE.MatchString(k) {
			p.add("build.env."+k, "build.env", "%q is not an environment variable name; use letters, digits and '_'", k)
		}
	}
	ids := map[string]bool{}
	for i, s := range b.Secrets {
		switch {
		case s.ID == "":
			p.add("build.secret", "build", "secret #%d has no id; add id = \"name\" (mounted at /run/secrets/<id>)", i+1)
		case !secretIDRE.MatchString(s.ID):
			p.add("build.secret", "build", "secret id %q: use letters, digits, '.', '_' or '-'", s.ID)
		case ids[s.ID]:
			p.add("build.secret", "build", "secret id %q is given twice; keep one", s.ID)
		}
		ids[s.ID] = true
		if (s.Env == "") == (s.File == "") {
			p.add("build.secret", "build", "secret %q needs exactly one of env = \"VARIABLE\" or file = \"/path\"", s.ID)
		}
	}
}

func validateLauncher(p *problems, l *PluginLauncher) {
	for _, h := range l.Hooks {
		if h == "" {
			p.add("launcher.hooks", "launcher", "an entry is empty; give a path relative to the plugin folder")
		} else if msg := checkRelPath(h); msg != "" {
			p.add("launcher.hooks", "launcher", "%q %s; give a path relative to the plugin folder", h, msg)
		}
	}
	names := map[string]bool{}
	for i, s := range l.Settings {
		validateSetting(p, i, s, names)
	}
	dests := map[string]bool{}
	for i, t := range l.Templates {
		validateTemplate(p, i, t, dests)
	}
}

// validateTemplate checks one [[launcher.template]]: src stays in the plugin folder (like a
// hook), dest is a clean absolute path in the image, given once.
func validateTemplate(p *problems, i int, t PluginTemplate, dests map[string]bool) {
	src, dest := entryKey{"launcher.template", i, "src"}, entryKey{"launcher.template", i, "dest"}
	switch {
	case t.Src == "":
		p.addAt(src, "template #%d has no src; add src = \"path relative to the plugin folder\"", i+1)
	default:
		if msg := checkRelPath(t.Src); msg != "" {
			p.addAt(src, "%q %s; give a path relative to the plugin folder", t.Src, msg)
		}
	}
	switch {
	case t.Dest == "":
		p.addAt(dest, "template #%d has no dest; add dest = \"/absolute/path/in/the/image\"", i+1)
	case !path.IsAbs(t.Dest):
		p.addAt(dest, "%q is not absolute; give the absolute path the launcher writes in the image", t.Dest)
	case path.Clean(t.Dest) != t.Dest:
		p.addAt(dest, "%q is not a clean path; write %q", t.Dest, path.Clean(t.Dest))
	case dests[t.Dest]:
		p.addAt(dest, "%q is the dest of another template too; each file is rendered by one template: keep one", t.Dest)
	}
	dests[t.Dest] = true
}

// entryKey names a key of the index'th entry of an array of tables, e.g. the src of the
// second [[launcher.template]].
type entryKey struct {
	array string
	index int
	key   string
}

// addAt is add for a key inside an array of tables: the message names array.key and the
// line is the key's within that entry (LineOf alone finds only the first entry's).
func (p *problems) addAt(k entryKey, format string, args ...any) {
	line := entryLine(p.data, k)
	p.errs = append(p.errs, &tomldecode.Error{File: p.file, Line: line, Key: k.array + "." + k.key, Msg: fmt.Sprintf(format, args...)})
}

// entryLine finds the line of k in data: the key inside the index'th [[array]] header's table,
// else that header's line, else (inline tables, say) the array's first line.
func entryLine(data []byte, k entryKey) int {
	header := "[[" + k.array + "]]"
	seen, start := -1, 0
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		l := strings.TrimSpace(raw)
		if strings.HasPrefix(l, "[") && seen == k.index {
			break // the entry's table ended without the key
		}
		if strings.ReplaceAll(l, " ", "") == header || strings.HasPrefix(strings.ReplaceAll(l, " ", ""), header+"#") {
			seen++
			if seen == k.index {
				start = i + 1
			}
			continue
		}
		if seen == k.index {
			if name, _, ok := strings.Cut(l, "="); ok && strings.Trim(strings.TrimSpace(name), `"'`) == k.key {
				return i + 1
			}
		}
	}
	if start > 0 {
		return start
	}
	return tomldecode.LineOf(data, k.array)
}

func validateSetting(p *problems, i int, s config.Setting, names map[string]bool) {
	const key = "launcher.settings"
	switch {
	case s.Name == "":
		p.add(key, "launcher", "setting #%d has no name; add name = \"...\"", i+1)
	case names[s.Name]:
		p.add(key, "launcher", "setting %q is declared twice; keep one", s.Name)
	}
	names[s.Name] = true
	if s.Env == "" {
		p.add(key, "launcher", "setting %q has no env; add env = \"VARIABLE\"", s.Name)
	} else if !envNameRE.MatchString(s.Env) {
		p.add(key, "launcher", "setting %q: env %q is not an environment variable name; use letters, digits and '_'", s.Name, s.Env)
	}
	if s.Secret && s.Default != "" {
		p.add(key, "launcher", "setting %q is secret but has a default; remove the default (it would be stored in the image)", s.Name)
	}
}
