package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-build/graft/plugins-example/demo/demokit"
)

// fixture is what every test shares: one demo tree in a temp folder, graft built from this
// checkout, the v1 image loaded into Docker, and the secrets as files.
type fixture struct {
	kit        *demokit.Kit
	id         string            // unique per run: names of images, containers, stacks
	secretsDir string            // app_secret_key, greeting_shared_secret
	secrets    map[string]string // file name -> value
	v1         string            // image tag

	updates    sync.Once // TestSwarm's v2 and v3 images, built once per fixture
	v2, v3     string
	updatesErr error
}

var (
	setupOnce sync.Once
	shared    *fixture
	setupErr  error
	images    []string // tags to remove at the end
	imagesMu  sync.Mutex
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		cleanupShared()
	}
	os.Exit(code)
}

// requireDocker skips (or, under CI=true, fails) when the Docker Engine is not usable.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "version", "--format", "{{.Server.APIVersion}}").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("Docker Engine not available (docker version: %v: %s)", err, strings.TrimSpace(string(out)))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires it")
	}
	t.Skip(msg)
}

// setup builds the shared fixture once; every test calls it.
func setup(t *testing.T) *fixture {
	t.Helper()
	requireDocker(t)
	setupOnce.Do(func() { shared, setupErr = newFixture() })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return shared
}

func newFixture() (*fixture, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	module, err := demokit.ModuleRoot()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "graft-e2e-")
	if err != nil {
		return nil, err
	}
	f := &fixture{id: "graft-e2e-" + randomHex(3), secrets: map[string]string{}}
	f.kit = &demokit.Kit{Root: root, Module: module, Bin: filepath.Join(root, "bin"), Log: &logBuffer{}}
	start := time.Now()
	if err := f.kit.CopySites(); err != nil {
		return f, err
	}
	if _, err := f.kit.BuildBase(ctx); err != nil {
		return f, err
	}
	if _, err := f.kit.CreateRepos(ctx); err != nil {
		return f, err
	}
	if err := f.kit.BuildTools(ctx); err != nil {
		return f, err
	}
	if err := f.writeSecrets(); err != nil {
		return f, err
	}
	if _, err := f.kit.Graft(ctx, f.site(), "lock"); err != nil {
		return f, err
	}
	if f.v1, err = f.build(ctx, "v1"); err != nil {
		return f, err
	}
	fmt.Fprintf(os.Stderr, "e2e setup: demo tree %s, image %s, in %s\n", root, f.v1, time.Since(start).Round(time.Second))
	return f, nil
}

func (f *fixture) site() string { return f.kit.Site("site") }

// build runs graft build on the site and loads the image into Docker as <id>:<tag>.
func (f *fixture) build(ctx context.Context, tag string) (string, error) {
	ref := f.id + ":" + tag
	out, err := f.kit.Graft(ctx, f.site(), "build", "--output", "type=daemon,name="+ref,
		"--output", "type=oci,dest="+f.kit.Out("image-"+tag))
	if err != nil {
		return "", err
	}
	imagesMu.Lock()
	images = append(images, ref)
	imagesMu.Unlock()
	fmt.Fprintf(os.Stderr, "e2e: built %s (%s)\n", ref, demokit.LastLine(out))
	return ref, nil
}

// writeSecrets writes random secrets as files readable by the container's uid 1000.
func (f *fixture) writeSecrets() error {
	f.secretsDir = filepath.Join(f.kit.Root, "secrets")
	if err := os.MkdirAll(f.secretsDir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"app_secret_key", "greeting_shared_secret"} {
		f.secrets[name] = "e2e-" + name + "-" + randomHex(16)
		if err := os.WriteFile(filepath.Join(f.secretsDir, name), []byte(f.secrets[name]+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func cleanupShared() {
	imagesMu.Lock()
	defer imagesMu.Unlock()
	for _, ref := range images {
		exec.Command("docker", "rmi", "-f", ref).Run()
	}
	if shared.kit != nil {
		os.RemoveAll(shared.kit.Root)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// logBuffer keeps graft's progress for failure messages without flooding passing runs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// docker runs the docker CLI and returns its stdout; failures carry stderr.
func docker(ctx context.Context, args ...string) (string, error) {
	return dockerEnv(ctx, nil, args...)
}

func dockerEnv(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func mustDocker(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := docker(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// waitFor polls cond every interval until it returns true, an error, or the limit passes.
func waitFor(ctx context.Context, limit, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s", what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// freePort asks the kernel for a port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
