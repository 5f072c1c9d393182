// Package examplekit runs the example sites of plugins-example (mediawiki, gerrit, openlibrary,
// jvm) in their tests, offline: it copies a site repository with its base replaced by a stand-in
// image made here with the application's real layout (a static busybox plus its files) and
// graft.toml [[mirror]] entries sending the real URLs to servers on 127.0.0.1; locks and builds
// it with graft's own code; and starts the image in Docker until the launcher reports it healthy.
package examplekit

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/artifact"
)

// Base is a stand-in for an application's image: busybox with Applets as /bin/NAME, the
// application's Files (path -> content; a path ending in "@x" is executable) and Dirs (path ->
// "uid:gid" owner), and its config.
type Base struct {
	Applets    []string
	Files      map[string]string
	Dirs       map[string]string
	Users      string // extra /etc/passwd lines ("app:x:1000:1000::/app:/bin/sh")
	User       string
	Env        []string
	Labels     map[string]string
	WorkingDir string
	Cmd        []string
	Tag        string // the layout names the image with this tag (org.opencontainers.image.ref.name)
}

// defaultApplets are what the examples' stand-in scripts use.
var defaultApplets = []string{"sh", "cat", "echo", "grep", "id", "mkdir", "test", "[", "ls", "httpd", "wget", "sleep", "cp", "env", "touch", "sed", "printf", "head"}

// WriteBase writes b as an OCI layout at dir: a system layer (root's) and an application layer.
// It skips the test without a static busybox (fails it under CI=true).
func WriteBase(t *testing.T, dir string, b Base) v1.Image {
	t.Helper()
	system := []layer.Entry{
		{Name: "/bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: buildtest.Busybox(t)},
		{Name: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\n" + b.Users)},
		{Name: "/etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte(groups(b.Users))},
	}
	for _, a := range append(defaultApplets, b.Applets...) {
		system = append(system, layer.Entry{Name: "/bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	var app []layer.Entry
	for _, d := range sortedKeys(b.Dirs) {
		var uid, gid int
		fmt.Sscanf(b.Dirs[d], "%d:%d", &uid, &gid)
		app = append(app, layer.Entry{Name: d, Type: tar.TypeDir, Mode: 0o755, UID: uid, GID: gid})
	}
	for _, f := range sortedKeys(b.Files) {
		mode, name := int64(0o644), f
		if strings.HasSuffix(f, "@x") {
			mode, name = 0o755, strings.TrimSuffix(f, "@x")
		}
		app = append(app, layer.Entry{Name: name, Type: tar.TypeReg, Mode: mode, Data: []byte(b.Files[f])})
	}
	// Entries keep their own owners: the root is "/", so no owner is imposed.
	img := buildtest.TinyImage(t, []layer.Option{layer.WithRoot("/nonexistent")}, func(cf *v1.ConfigFile) {
		cf.Config.Env = append([]string{"PATH=/usr/local/bin:/bin"}, b.Env...)
		cf.Config.User, cf.Config.WorkingDir, cf.Config.Cmd, cf.Config.Labels = b.User, b.WorkingDir, b.Cmd, b.Labels
		cf.Created = v1.Time{Time: time.Unix(1700000000, 0).UTC()}
	}, system, app)
	os.RemoveAll(dir)
	var opts []layout.Option
	if b.Tag != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{imageref.RefNameAnnotation: b.Tag}))
	}
	buildtest.WriteLayout(t, dir, img, opts...)
	return img
}

// groups is /etc/group for root and the users of passwd lines (a group per user, same id).
func groups(users string) string {
	out := "root:x:0:\n"
	for _, line := range strings.Split(strings.TrimSpace(users), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 3 {
			out += f[0] + ":x:" + f[3] + ":\n"
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Dir is the example's folder (go test runs in it).
func Dir(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// CopySite copies the example site in the current folder (graft.toml, plugins/ and the extra
// paths) into a temporary folder, with graft.toml's realBase line replaced by localBase (the
// stand-in, e.g. oci-layout://base:3.10.2) and [[mirror]] entries (real prefix -> local URL)
// appended; the plugin.toml files are the real ones, unchanged. It returns the copy's folder.
func CopySite(t *testing.T, realBase, localBase string, mirrors map[string]string, extra ...string) string {
	t.Helper()
	src := Dir(t)
	dir := filepath.Join(t.TempDir(), "site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{"plugins"}, extra...) {
		if out, err := exec.Command("cp", "-a", filepath.Join(src, p), dir).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", p, err, out)
		}
	}
	site, err := os.ReadFile(filepath.Join(src, lockfile.SiteFile))
	if err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("base = %q", realBase)
	if !strings.Contains(string(site), line) {
		t.Fatalf("graft.toml no longer has %s", line)
	}
	text := strings.Replace(string(site), line, fmt.Sprintf("base = %q", localBase), 1)
	for _, prefix := range sortedKeys(mirrors) {
		text += fmt.Sprintf("\n[[mirror]]\nprefix = %q\nurl = %q\n", prefix, mirrors[prefix])
	}
	if err := os.WriteFile(filepath.Join(dir, lockfile.SiteFile), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Isolate gives the test its own graft cache and no credentials from the machine.
func Isolate(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("GRAFT_CACHE_DIR", cache)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("NETRC", "")
	t.Setenv("GRAFT_GIT_TOKEN", "")
	t.Setenv("SOURCE_DATE_EPOCH", "")
	return cache
}

// Lock resolves the site at dir with graft's lock code (the artifact cache under
// GRAFT_CACHE_DIR) and writes graft.lock; it returns the loaded project, or the error.
func Lock(t *testing.T, dir string) (*lockfile.Project, error) {
	t.Helper()
	p, err := lockfile.Load(dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, err := p.Resolve(ctx, lockfile.WithArtifactStore(artifact.New(os.Getenv("GRAFT_CACHE_DIR"))))
	if err != nil {
		return nil, err
	}
	if err := lockfile.WriteLock(filepath.Join(dir, lockfile.LockFile), l); err != nil {
		t.Fatal(err)
	}
	return lockfile.Load(dir)
}

// MustLock is Lock failing the test on an error.
func MustLock(t *testing.T, dir string) *lockfile.Project {
	t.Helper()
	p, err := Lock(t, dir)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	return p
}

// Build builds p with graft's builder (fresh launchers, the caches under GRAFT_CACHE_DIR).
func Build(t *testing.T, p *lockfile.Project, opts ...builder.Option) *contract.Result {
	t.Helper()
	cache := os.Getenv("GRAFT_CACHE_DIR")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := builder.Build(ctx, p, append([]builder.Option{builder.WithLaunchers(buildtest.Launchers(t, "amd64")),
		builder.WithCache(fetch.NewCache(filepath.Join(cache, "git"))), builder.WithLayerCache(filepath.Join(cache, "layers")),
		builder.WithArtifactStore(artifact.New(cache))}, opts...)...)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return res
}

// Docker runs the docker CLI and returns its trimmed output.
func Docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// MustDocker is Docker failing the test on an error.
func MustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := Docker(t, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Load loads img into Docker under a unique tag (removed when the test ends).
func Load(t *testing.T, img v1.Image, prefix string) string {
	t.Helper()
	tag := fmt.Sprintf("%s-%d:test", prefix, time.Now().UnixNano())
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if _, err := daemon.Write(ref, img); err != nil {
		t.Fatalf("load into Docker: %v", err)
	}
	return tag
}

// Start runs image detached (no network) with docker run's args (env, mounts) and the command
// cmd (the launcher's: "run", "web"), removes it when the test ends, and waits until `docker
// inspect` says healthy (the image's HEALTHCHECK is graft-launcher healthcheck). It returns the
// container's name.
func Start(t *testing.T, image string, args []string, cmd ...string) string {
	t.Helper()
	name := strings.NewReplacer(":", "-", "/", "-").Replace(image) + "-" + strings.Join(cmd, "-")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	run := append(append([]string{"run", "-d", "--name", name, "--network", "none",
		"--health-interval", "200ms", "--health-start-period", "30s"}, args...), image)
	run = append(run, cmd...)
	MustDocker(t, run...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		state, _ := Docker(t, "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name)
		switch {
		case state == "running healthy":
			return name
		case strings.HasPrefix(state, "exited") || time.Now().After(deadline):
			logs, _ := Docker(t, "logs", name)
			t.Fatalf("container %s never became healthy (%s):\n%s", name, state, logs)
		}
		// Docker reports health at --health-interval: wait for its next probe.
		time.Sleep(100 * time.Millisecond)
	}
}

// HasDocker reports whether a Docker Engine answers; without one the test goes on without
// starting the image (and fails under CI=true, where one must be).
func HasDocker(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("docker"); err == nil && exec.Command("docker", "version").Run() == nil {
		return true
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true and no Docker Engine")
	}
	t.Log("no Docker Engine: the image is not started")
	return false
}
