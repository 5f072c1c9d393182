package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/gittest"
)

// buildEnv isolates graft build from this machine: its own plugin cache, freshly built
// launchers, no BuildKit, no SOURCE_DATE_EPOCH.
func buildEnv(t *testing.T) {
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the local cache's key
	t.Setenv(buildopts.EnvLauncherDir, buildtest.LauncherDir(t, "amd64"))
	t.Setenv(buildopts.EnvBuildkitHost, "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
}

func graftSite(t *testing.T) *buildtest.Site {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Plugin("beta", map[string]string{"lib/b.rb": "beta"}, "")
	s.Lock()
	return s
}

func graft(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestBuildPrintsTheDigestLastAndIsReproducible(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	code, out, errOut := graft(t, "build", "-C", s.Dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 {
		t.Fatalf("last stdout line %q", digest)
	}
	for _, want := range []string{"fetch  alpha", "layer  beta", "output oci-layout://" + filepath.Join(s.Dir, "out/image")} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
	// Elsewhere, with a cold cache: the same digest.
	other := t.TempDir()
	s.CopyTo(other)
	t.Setenv("GRAFT_CACHE_DIR", t.TempDir())
	code, out2, errOut := graft(t, "build", "-C", other, "--progress", "quiet", "--output", "type=oci,dest="+filepath.Join(t.TempDir(), "img"))
	if code != 0 || lastLine(out2) != digest || errOut != "" {
		t.Fatalf("exit %d, digest %q (want %s), stderr %q", code, lastLine(out2), digest, errOut)
	}

	// inspect reads it back from the layout.
	code, out, errOut = graft(t, "inspect", "oci-layout://"+filepath.Join(s.Dir, "out/image")+":latest")
	if code != 0 || !strings.Contains(out, digest) || !strings.Contains(out, s.Repos["alpha"].Head()) ||
		!strings.Contains(out, "base      oci-layout://base @ sha256:") {
		t.Fatalf("inspect exit %d:\n%s%s", code, out, errOut)
	}
}

func TestBuildJSONAndSeveralOutputs(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	ref := registrytest.GGCR(t, false) + "/lib/app:v1"
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	code, out, errOut := graft(t, "build", "-C", s.Dir, "--json", "-o", "type=registry,name="+ref,
		"-o", "type=docker,dest="+tarPath, "-o", "type=oci,dest=out/x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r publish.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if len(r.Outputs) != 3 || len(r.Plugins) != 2 || r.Plugins[1].Name != "beta" || r.Platforms[0] != "linux/amd64" {
		t.Fatalf("report %+v", r)
	}
	for _, img := range []string{ref, tarPath} {
		code, out, errOut = graft(t, "inspect", "--json", img)
		var ir imagecontract.Report
		if code != 0 || json.Unmarshal([]byte(out), &ir) != nil || len(ir.Platforms) != 1 || len(ir.Platforms[0].Plugins) != 2 {
			t.Fatalf("inspect %s: exit %d\n%s%s", img, code, out, errOut)
		}
		if img == ref && ir.Digest != r.Digest {
			t.Errorf("registry holds %s, built %s", ir.Digest, r.Digest)
		}
		if ir.Platforms[0].LauncherVersion == "" {
			t.Errorf("no launcher version: %+v", ir.Platforms[0])
		}
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "out/x/index.json")); err != nil {
		t.Errorf("relative dest is not under the site repository: %v", err)
	}
}

func TestBuildBadInputExits2(t *testing.T) {
	buildEnv(t)
	// No Docker Engine, so a build with steps and no address cannot fall back to --buildkit auto.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	cases := map[string]struct {
		edit func(s *buildtest.Site)
		args []string
		want string
	}{
		"missing lock": {edit: func(s *buildtest.Site) { os.Remove(filepath.Join(s.Dir, "graft.lock")) },
			want: "graft.lock: not found; run `graft lock`"},
		"stale lock": {edit: func(s *buildtest.Site) { s.Plugin("beta", nil, "[config]\nsnippet = \"x\"") },
			want: "stale"},
		"build steps without BuildKit": {edit: func(s *buildtest.Site) {
			s.Plugin("beta", nil, "[build]\nrun = [\"make\"]")
			s.Lock()
		}, want: "plugin beta has [build] run steps, which need BuildKit"},
		"bad output":              {args: []string{"--output", "type=floppy"}, want: `unknown type "floppy"`},
		"bad progress":            {args: []string{"--progress", "loud"}, want: "--progress"},
		"cache without buildkit":  {args: []string{"--cache-to", "type=gha,scope=x"}, want: "give --buildkit"},
		"local cache without dir": {args: []string{"--cache-from", "type=local,dest=x"}, want: "type=local needs src=DIR"},
		"cache to a digest": {args: []string{"--cache-to", "type=registry,ref=127.0.0.1:1/c@sha256:" + strings.Repeat("a", 64)},
			want: "a cache is written to a tag"},
		"unknown platform":      {args: []string{"--platform", "linux/s390x"}, want: "linux/s390x is not in the base image"},
		"platform without arch": {args: []string{"--platform", "linux/amd64,linux"}, want: `--platform "linux": write os/arch[/variant]`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := graftSite(t)
			if c.edit != nil {
				c.edit(s)
			}
			code, out, errOut := graft(t, append([]string{"build", "-C", s.Dir}, c.args...)...)
			if code != 2 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Fatalf("exit %d, stderr %q (want exit 2 and one line with %q), stdout %q", code, errOut, c.want, out)
			}
		})
	}
}

func TestInspectRejectsImagesGraftDidNotBuild(t *testing.T) {
	dir := t.TempDir()
	buildtest.WriteBaseLayout(t, dir, "linux/amd64")
	code, _, errOut := graft(t, "inspect", "oci-layout://"+dir)
	if code != 1 || !strings.Contains(errOut, "was not built by graft") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = graft(t, "inspect")
	if code != 2 {
		t.Fatalf("inspect without IMAGE: exit %d %s", code, errOut)
	}
}

// An IMAGE that names nothing is a usage error (exit 2) saying what IMAGE may be.
func TestInspectMissingImageExits2(t *testing.T) {
	host := registrytest.GGCR(t, false)
	dir := t.TempDir()
	for _, img := range []string{
		"oci-layout://" + filepath.Join(dir, "nope"),
		filepath.Join(dir, "nope.tar"),
		filepath.Join(dir, "nope"),
		host + "/nope:1",
	} {
		code, _, errOut := graft(t, "inspect", img)
		if code != 2 || !strings.HasSuffix(strings.TrimSpace(errOut), imageref.Forms) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("inspect %s: exit %d, stderr %q", img, code, errOut)
		}
	}
}

// A graft.lock edited to fetch another repository, ref or folder than plugin.toml says is
// refused before anything is fetched: exit 2 at the edited line, both values named.
func TestBuildRefusesEditedLock(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	evil := gittest.NewRepo(t, s.Git, "evil.git")
	evil.Write(map[string]string{"a.txt": "evil"})
	evil.Commit("evil")
	lockPath := filepath.Join(s.Dir, "graft.lock")
	locked, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	alpha := s.Repos["alpha"].URL()
	cases := map[string]struct{ old, new, want string }{
		"git":  {"git = '" + alpha + "'", "git = '" + evil.URL() + "'", `plugin alpha: git is "` + evil.URL() + `" in graft.lock but "` + alpha + `" in plugins/alpha/plugin.toml`},
		"ref":  {"ref = 'main'", "ref = 'evil'", `plugin alpha: ref is "evil" in graft.lock but "main" in plugins/alpha/plugin.toml`},
		"kind": {"kind = 'branch'", "kind = 'commit'", `plugin alpha: kind is "commit" in graft.lock but ref "main" of plugins/alpha/plugin.toml names a branch or tag`},
		"path": {"kind = 'branch'", "kind = 'branch'\npath = 'sub'", `plugin alpha: path is "sub" in graft.lock but "" in plugins/alpha/plugin.toml`},
	}
	// A commit edited to another one of the branch (here its newer head) or to one the
	// repository lacks: found while fetching, named at the commit's line all the same.
	locked1 := s.Repos["alpha"].Head()
	s.Repos["alpha"].Write(map[string]string{"a.txt": "newer"})
	newer := s.Repos["alpha"].Commit("newer")
	gone := strings.Repeat("ab", 20)
	cases["commit"] = struct{ old, new, want string }{"commit = '" + locked1 + "'", "commit = '" + newer + "'",
		"plugin.commit: plugin alpha: commit " + newer + " in graft.lock: that commit holds tree"}
	cases["missing commit"] = struct{ old, new, want string }{"commit = '" + locked1 + "'", "commit = '" + gone + "'",
		"plugin.commit: plugin alpha: commit " + gone + " in graft.lock: it is not in"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			edited := strings.Replace(string(locked), c.old, c.new, 1)
			if edited == string(locked) {
				t.Fatalf("graft.lock lacks %q", c.old)
			}
			if err := os.WriteFile(lockPath, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := graft(t, "build", "-C", s.Dir)
			if code != 2 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "graft.lock:") {
				t.Fatalf("exit %d, stderr %q (want exit 2 and %q), stdout %q", code, errOut, c.want, out)
			}
		})
	}
}

// After --output type=daemon, `graft inspect NAME` reads the image from the Docker Engine
// (before, a name without a registry host went to Docker Hub); docker-daemon:NAME too. A short
// name the engine lacks is exit 2 and is never looked up in a registry.
func TestInspectReadsTheDockerEngine(t *testing.T) {
	buildEnv(t)
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker Engine: %v", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
	s := graftSite(t)
	tag := "graft-inspect-test:" + randHex(t)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "--progress", "quiet", "--output", "type=daemon,name="+tag); code != 0 {
		t.Fatalf("build: exit %d: %s", code, errOut)
	}
	id, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{tag, "docker-daemon:" + tag} {
		code, out, errOut := graft(t, "inspect", img)
		if code != 0 || !strings.Contains(out, "digest    "+strings.TrimSpace(string(id))) || !strings.Contains(out, "alpha") {
			t.Errorf("inspect %s: exit %d\n%s%s", img, code, out, errOut)
		}
	}
	code, _, errOut := graft(t, "inspect", "graft-inspect-test:absent-"+randHex(t))
	if code != 2 || !strings.Contains(errOut, "the Docker Engine does not hold it (for a registry image, write its registry: docker.io/") {
		t.Errorf("inspect of a name the engine lacks: exit %d: %s", code, errOut)
	}
}
