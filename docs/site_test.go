package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/registrytest"
)

// The "Writing a site" guide's graft.toml and plugin.toml, as written, lock and build: the
// base's registry is a registry on 127.0.0.1 holding a busybox image under the guide's
// repository name, and GitHub is reached through a [[mirror]] the test appends to graft.toml
// (graft's own way to redirect git hosts), to a repository with the guide's tag.
func TestSiteGuideExampleLocksAndBuilds(t *testing.T) {
	gittest.RequireGit(t)
	site := codeBlock(t, "docs/guides/site.md", "## graft.toml", "toml")
	plugin := codeBlock(t, "docs/guides/site.md", "## A plugin from a git repository", "toml")
	then := codeBlock(t, "docs/guides/site.md", "## A plugin from a git repository", "sh")

	host := registrytest.GGCR(t, false)
	const guideBase = "registry.example.org/archivesspace/archivesspace:4.1.1"
	if !strings.Contains(site, guideBase) {
		t.Fatalf("the guide's base is no longer %s: update this test", guideBase)
	}
	pushBusybox(t, host+"/archivesspace/archivesspace:4.1.1")
	site = strings.Replace(site, "registry.example.org/", host+"/", 1)

	gitRoot := t.TempDir()
	repo := gittest.NewRepo(t, gitRoot, "aspace-oauth.git")
	repo.Write(map[string]string{"frontend/plugin_init.rb": "# oauth\n", "LICENSE": "MIT License\n"})
	repo.Commit("Release 3.5.0")
	repo.Tag("v3.5.0")
	srv := gittest.NewServer(t, gitRoot)
	site += fmt.Sprintf("\n[[mirror]]\nprefix = \"https://github.com/lyrasis/\"\nurl = %q\n", srv.URL+"/")

	dir := t.TempDir()
	write := func(name, content string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("graft.toml", site)
	first, _, _ := strings.Cut(plugin, "\n")
	file := strings.TrimPrefix(first, "# ")
	if !strings.HasPrefix(file, "plugins/") {
		t.Fatalf("the plugin example's first line names no file: %q", first)
	}
	write(file, plugin)

	graft := filepath.Join(buildGraft(t), "graft")
	env := append(os.Environ(), "HOME="+t.TempDir(), "GRAFT_CACHE_DIR="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
	// The guide's commands: graft lock, then graft build (its -t/--push aimed at the test registry).
	for _, line := range strings.Split(then, "\n") {
		cmdline, _, _ := strings.Cut(line, "#")
		args := strings.Fields(cmdline)
		if len(args) == 0 || args[0] != "graft" {
			continue
		}
		for i, a := range args {
			args[i] = strings.Replace(a, "registry.example.org/", host+"/", 1)
		}
		cmd := exec.Command(graft, args[1:]...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("%s:\n%s", strings.Join(args, " "), out)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "graft.lock"))
	if err != nil || !strings.Contains(string(lock), "name = 'aspace-oauth'") || !strings.Contains(string(lock), "tags = ['v3.5.0']") {
		t.Fatalf("graft.lock: %v\n%s", err, lock)
	}
}
