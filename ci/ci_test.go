// Package ci holds graft's CI templates (action.yml at the repository root, gitlab/, examples/);
// its tests lint them with actionlint and run their scripts against a real registry.
package ci

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rhysd/actionlint"
	"go.yaml.in/yaml/v4"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/registrytest"
)

const root = ".." // the repository, from this package's folder

func readYAML(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return m
}

func writeYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lint runs actionlint on the workflows of a project folder (shellcheck too where installed).
func lint(t *testing.T, dir string) []*actionlint.Error {
	t.Helper()
	sc, _ := exec.LookPath("shellcheck")
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Shellcheck: sc})
	if err != nil {
		t.Fatal(err)
	}
	proj, err := actionlint.NewProject(dir)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := l.LintDir(filepath.Join(dir, ".github/workflows"), proj)
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

// actionProject is a repository holding action.yml and three workflows: the example using the
// action as a local action (so its `with:` is checked against action.yml's inputs), and the
// action's own steps as a reusable workflow with the same inputs (so every expression, action
// input and, with shellcheck, script of the composite action is checked too).
func actionProject(t *testing.T, example []byte) string {
	t.Helper()
	dir := t.TempDir()
	wf := filepath.Join(dir, ".github/workflows")
	if err := os.MkdirAll(wf, 0o755); err != nil {
		t.Fatal(err)
	}
	action, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "action.yml"), action, 0o644)
	os.WriteFile(filepath.Join(wf, "example.yml"), regexp.MustCompile(`graft-build/graft@\S+`).ReplaceAll(example, []byte("./")), 0o644)

	meta := readYAML(t, filepath.Join(root, "action.yml"))
	inputs := map[string]any{}
	for name, in := range meta["inputs"].(map[string]any) {
		spec := map[string]any{"type": "string"}
		if d, ok := in.(map[string]any)["default"]; ok {
			spec["default"] = d
		}
		inputs[name] = spec
	}
	runs := meta["runs"].(map[string]any)
	if runs["using"] != "composite" {
		t.Fatalf("action.yml runs.using = %v, want composite", runs["using"])
	}
	writeYAML(t, filepath.Join(wf, "composite.yml"), map[string]any{
		"name": "composite steps",
		"on":   map[string]any{"workflow_call": map[string]any{"inputs": inputs}},
		"jobs": map[string]any{"steps": map[string]any{"runs-on": "ubuntu-latest", "steps": runs["steps"]}},
	})
	return dir
}

func TestGitHubActionLints(t *testing.T) {
	example, err := os.ReadFile(filepath.Join(root, "ci/examples/github-workflow.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if errs := lint(t, actionProject(t, example)); len(errs) > 0 {
		for _, e := range errs {
			t.Errorf("%s:%d:%d: %s [%s]", filepath.Base(e.Filepath), e.Line, e.Column, e.Message, e.Kind)
		}
	}
	// The lint can fail: an input action.yml does not have, and a bad expression.
	bad := bytes.Replace(example, []byte("site: site"), []byte("sitee: site"), 1)
	bad = bytes.Replace(bad, []byte("steps.graft.outputs.digest }}"), []byte("steps.graft.outputs.digest }"), 1)
	errs := lint(t, actionProject(t, bad))
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Message)
	}
	joined := strings.Join(msgs, "\n")
	if !strings.Contains(joined, `"sitee"`) || !strings.Contains(joined, "}}") {
		t.Fatalf("a broken example passed the lint:\n%s", joined)
	}
}

var (
	graftOnce sync.Once
	graftBin  string
	graftErr  error
)

// graftOnPath builds graft once into a folder for scripts to find on PATH.
func graftOnPath(t *testing.T) string {
	graftOnce.Do(func() {
		dir, err := os.MkdirTemp("", "graft-ci-bin-")
		if err != nil {
			graftErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "graft"), "github.com/graft-build/graft/cmd/graft")
		if b, err := cmd.CombinedOutput(); err != nil {
			graftErr = fmt.Errorf("%v: %s", err, b)
			return
		}
		graftBin = dir
	})
	if graftErr != nil {
		t.Fatalf("build graft: %v", graftErr)
	}
	return graftBin
}

func site(t *testing.T) *buildtest.Site {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"a.txt": "alpha"}, "")
	s.Lock()
	return s
}

// scriptEnv is a clean environment for a CI script: graft on PATH, its own caches and Docker
// config, launchers built from this checkout.
func scriptEnv(t *testing.T, vars map[string]string) []string {
	env := []string{
		"PATH=" + graftOnPath(t) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"DOCKER_CONFIG=" + t.TempDir(),
		"GRAFT_CACHE_DIR=" + t.TempDir(),
		"GRAFT_LAUNCHER_DIR=" + buildtest.LauncherDir(t, "amd64"),
		"GOCACHE=" + os.Getenv("GOCACHE"), "GOMODCACHE=" + os.Getenv("GOMODCACHE"),
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// checkPushed asks the registry for ref and compares the digest.
func checkPushed(t *testing.T, ref, user, pw, digest string) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, remote.WithAuth(&authn.Basic{Username: user, Password: pw}), remote.WithContext(context.Background()))
	if err != nil || d.Digest.String() != digest {
		t.Fatalf("%s in the registry: %v %v, want %s", ref, d, err, digest)
	}
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// The GitLab template's before_script and script, run as GitLab runs them (one shell, lines in
// order, stop at the first failure) with GitLab's variables expanded as GitLab does, against a
// password-protected registry standing for $CI_REGISTRY.
func TestGitLabTemplateScriptPushes(t *testing.T) {
	tpl := readYAML(t, filepath.Join(root, "ci/gitlab/graft.gitlab-ci.yml"))
	job, ok := tpl[".graft-build"].(map[string]any)
	if !ok {
		t.Fatal("no .graft-build job in the template")
	}
	if ex := readYAML(t, filepath.Join(root, "ci/examples/gitlab-ci.yml")); ex["build-image"].(map[string]any)["extends"] != ".graft-build" {
		t.Fatal("the example does not extend .graft-build")
	}
	const user, pw = "gitlab-ci-token", "job-token-value"
	host := registrytest.New(t, registrytest.WithBasicAuth(user, pw)).Host
	s := site(t)
	work := t.TempDir()
	gitlab := map[string]string{
		"CI_REGISTRY": host, "CI_REGISTRY_USER": user, "CI_REGISTRY_PASSWORD": pw,
		"CI_REGISTRY_IMAGE": host + "/group/site", "CI_COMMIT_SHORT_SHA": "0123abcd",
		"CI_COMMIT_REF_SLUG": "main", "CI_PROJECT_DIR": work,
	}
	vars := map[string]string{}
	for k, v := range gitlab {
		vars[k] = v
	}
	for k, v := range job["variables"].(map[string]any) {
		vars[k] = os.Expand(v.(string), func(k string) string { return gitlab[k] })
	}
	vars["GRAFT_SITE"] = s.Dir
	var script []string
	for _, key := range []string{"before_script", "script"} {
		for _, line := range job[key].([]any) {
			script = append(script, line.(string))
		}
	}
	cmd := exec.Command("sh", "-e", "-c", strings.Join(script, "\n"))
	cmd.Dir = work
	cmd.Env = scriptEnv(t, vars)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	if strings.Contains(string(out), pw) {
		t.Fatalf("the registry password is in the job log:\n%s", out)
	}
	env, err := os.ReadFile(filepath.Join(work, "graft.env"))
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimPrefix(strings.TrimSpace(string(env)), "GRAFT_DIGEST=")
	if !digestRE.MatchString(digest) {
		t.Fatalf("graft.env: %q\n%s", env, out)
	}
	checkPushed(t, host+"/group/site:0123abcd", user, pw, digest)
	if _, err := os.Stat(filepath.Join(work, ".graft-cache")); err != nil {
		t.Errorf("graft's cache is not in the cached folder .graft-cache: %v", err)
	}

	// A drifted lock stops the job before anything is pushed.
	s.Plugin("alpha", map[string]string{"a.txt": "changed"}, "")
	vars["GRAFT_IMAGE"] = host + "/group/site:drift"
	cmd = exec.Command("sh", "-e", "-c", strings.Join(script, "\n"))
	cmd.Dir, cmd.Env = work, scriptEnv(t, vars)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "plugin alpha") {
		t.Fatalf("drifted lock: %v\n%s", err, out)
	}
}

// The action's steps that run graft, run by bash as a runner would, with the inputs as the
// env the steps declare.
func TestGitHubActionStepsPush(t *testing.T) {
	meta := readYAML(t, filepath.Join(root, "action.yml"))
	steps := map[string]map[string]any{}
	for _, st := range meta["runs"].(map[string]any)["steps"].([]any) {
		m := st.(map[string]any)
		steps[m["name"].(string)] = m
	}
	const user, pw = "gh-actor", "gh-token-value"
	host := registrytest.New(t, registrytest.WithBasicAuth(user, pw)).Host
	s := site(t)
	temp := t.TempDir()
	outputs := filepath.Join(temp, "github_output")
	inputs := map[string]string{"site": s.Dir, "outputs": "type=oci,dest=" + filepath.Join(temp, "img.tar") + "\n",
		"tags": host + "/org/site:v1\n" + host + "/org/site:latest", "push": "true", "check-lock": "true",
		"registry": host, "username": user, "password": pw}
	const signPW = "sign-pass-phrase"
	priv, _ := buildtest.CosignKeyPair(t, signPW)
	key, err := os.ReadFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	inputs["sign-key"], inputs["sign-password"] = string(key), signPW
	expr := regexp.MustCompile(`^\$\{\{ inputs\.([a-z-]+) }}$`)
	env := scriptEnv(t, map[string]string{"RUNNER_TEMP": temp, "GITHUB_OUTPUT": outputs})
	for _, name := range []string{"Check graft.lock", "Log in to the registry", "Build"} {
		st, ok := steps[name]
		if !ok {
			t.Fatalf("action.yml has no step %q", name)
		}
		stepEnv := append([]string{}, env...)
		for k, v := range st["env"].(map[string]any) {
			m := expr.FindStringSubmatch(v.(string))
			if m == nil {
				t.Fatalf("step %q: env %s=%v is not an input", name, k, v)
			}
			stepEnv = append(stepEnv, k+"="+inputs[m[1]])
		}
		cmd := exec.Command("bash", "-e", "-c", st["run"].(string))
		cmd.Env, cmd.Dir = stepEnv, temp
		if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), pw) || strings.Contains(string(out), signPW) {
			t.Fatalf("step %q: %v\n%s", name, err, out)
		}
	}
	got, _ := os.ReadFile(outputs)
	digest := strings.TrimPrefix(strings.TrimSpace(string(got)), "digest=")
	if !digestRE.MatchString(digest) {
		t.Fatalf("GITHUB_OUTPUT: %q", got)
	}
	checkPushed(t, host+"/org/site:v1", user, pw, digest)
	checkPushed(t, host+"/org/site:latest", user, pw, digest)
	// Signed with the sign-key input: cosign's signature tag is there, the key file is not left.
	sig := host + "/org/site:" + strings.Replace(digest, ":", "-", 1) + ".sig"
	if _, err := crane.Digest(sig, crane.WithAuth(&authn.Basic{Username: user, Password: pw})); err != nil {
		t.Errorf("no signature at %s: %v", sig, err)
	}
	if _, err := os.Stat(filepath.Join(temp, "graft-sign.key")); err == nil {
		t.Error("the sign key was left in RUNNER_TEMP")
	}
	if _, err := os.Stat(filepath.Join(temp, "img.tar")); err != nil {
		t.Errorf("the outputs input was not used: %v", err)
	}
}
