package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/graft-build/graft/lockfile"
)

// renovateManager is the custom manager docs/guides/updates.md documents, read from that page itself.
func renovateManager(t *testing.T) (file, match *regexp.Regexp) {
	t.Helper()
	readme, err := os.ReadFile("../../docs/guides/updates.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Updates by Renovate")
	_, rest, ok2 := strings.Cut(rest, "```json\n")
	block, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("docs/guides/updates.md has no Renovate json block")
	}
	var cfg struct {
		CustomManagers []struct {
			ManagerFilePatterns []string `json:"managerFilePatterns"`
			MatchStrings        []string `json:"matchStrings"`
		} `json:"customManagers"`
	}
	if err := json.Unmarshal([]byte(block), &cfg); err != nil || len(cfg.CustomManagers) != 1 {
		t.Fatalf("docs/guides/updates.md Renovate block: %v\n%s", err, block)
	}
	m := cfg.CustomManagers[0]
	return regexp.MustCompile(strings.Trim(m.ManagerFilePatterns[0], "/")), regexp.MustCompile(m.MatchStrings[0])
}

// The documented regex finds git and ref in every example plugin.toml, and Renovate's edit
// (the currentValue replaced) is then picked up by `graft lock --changed`.
func TestReadmeRenovateRegex(t *testing.T) {
	file, match := renovateManager(t)
	paths, _ := filepath.Glob("../../plugins-example/*/plugins/*/plugin.toml")
	more, _ := filepath.Glob("../../plugins-example/*/*/plugins/*/plugin.toml")
	paths = append(paths, more...)
	if len(paths) < 3 {
		t.Fatalf("found %d example plugin.toml files", len(paths))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := lockfile.ParsePlugin(p, filepath.Base(filepath.Dir(p)), data)
		if err != nil {
			t.Fatal(err)
		}
		if !file.MatchString(strings.TrimPrefix(p, "../../")) {
			t.Errorf("%s: managerFilePatterns does not match", p)
		}
		m := match.FindSubmatch(data)
		if pl.Source.Type() != lockfile.TypeGit {
			if m != nil {
				t.Errorf("%s: matched a %s plugin", p, pl.Source.Type())
			}
			continue // the git-tags manager is for git sources; lock --bump moves the others
		}
		if m == nil || string(m[match.SubexpIndex("packageName")]) != pl.Source.Git || string(m[match.SubexpIndex("currentValue")]) != pl.Source.Ref {
			t.Errorf("%s: matched %q, want git %q ref %q", p, m, pl.Source.Git, pl.Source.Ref)
		}
	}

	f := newSiteFixture(t)
	r := f.repo("r.git")
	r.Commit("1.0")
	r.Tag("v1.0")
	f.plugin("tagged", r.URL(), "v1.0", "")
	f.plugin("branch", r.URL(), "main", "")
	f.mustRun("lock")
	locked := pluginLock(t, f.lock(), "branch").Commit
	head := r.Commit("1.1")
	r.Tag("v1.1")
	// What Renovate does: replace currentValue where the regex matched.
	path := filepath.Join(f.dir, "plugins/tagged/plugin.toml")
	data, _ := os.ReadFile(path)
	loc := match.FindSubmatchIndex(data)
	i := 2 * match.SubexpIndex("currentValue")
	edited := string(data[:loc[i]]) + "v1.1" + string(data[loc[i+1]:])
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := f.run("lock", "--check"); code != 1 || !strings.Contains(out, "plugin tagged: plugin.toml changed") {
		t.Fatalf("check before --changed: exit %d\n%s", code, out)
	}
	out := f.mustRun("lock", "--changed")
	l := f.lock()
	if pluginLock(t, l, "tagged").Commit != head || pluginLock(t, l, "branch").Commit != locked {
		t.Fatalf("--changed moved the wrong plugins:\n%s", out)
	}
}
