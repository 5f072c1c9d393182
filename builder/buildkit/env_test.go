package buildkit

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/buildkittest"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
)

var shared *buildkittest.Shared

func TestMain(m *testing.M) {
	shared = buildkittest.StartShared()
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

const (
	pluginsDir = "/app/plugins"
	uid, gid   = 1000, 1000
)

// initScript is the base image's own script a plugin's build step runs, as ArchivesSpace's
// scripts/initialize-plugin.sh: it writes generated files into the plugin's folder.
const initScript = `#!/bin/sh
set -e
mkdir -p generated
echo "plugin=$1 user=$(id -u):$(id -g) pwd=$(pwd) app=$APP_HOME greeting=$GREETING" > generated/info.txt
ls scripts > generated/scripts.txt
`

// testBase is a base image made in the test: a static busybox shell, the init script, and an
// /app/plugins folder owned by root (steps run as 1000:1000 and can only write their own folder).
type testBase struct {
	img          v1.Image
	digest       v1.Hash
	layout       string // oci-layout://DIR@sha256:...
	registry     string // 127.0.0.1:PORT/base@sha256:...
	registryHost string // 127.0.0.1:PORT
	reg          *registrytest.Registry
}

// manifestGets counts manifest downloads from the base's registry (pushing does none).
func (b *testBase) manifestGets() int {
	n := 0
	for _, r := range b.reg.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/manifests/") {
			n++
		}
	}
	return n
}

func newBase(t *testing.T) *testBase {
	t.Helper()
	b := &testBase{}
	entries := []layer.Entry{
		{Name: "/bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: buildtest.Busybox(t)},
		{Name: "/usr/local/bin/init-plugin.sh", Type: tar.TypeReg, Mode: 0o755, Data: []byte(initScript)},
		{Name: "/app/plugins", Type: tar.TypeDir, Mode: 0o755},
		{Name: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")},
		{Name: "/etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:\napp:x:1000:\n")},
		// A base per test: a test that pulls from the registry must not find the base in the
		// daemon's cache from an earlier test.
		{Name: "/etc/graft-test", Type: tar.TypeReg, Mode: 0o644, Data: []byte(t.Name() + "\n")},
	}
	for _, applet := range applets(t) {
		entries = append(entries, layer.Entry{Name: "/bin/" + applet, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	b.img = buildtest.TinyImage(t, nil, func(cf *v1.ConfigFile) {
		cf.Config.Env = []string{"PATH=/usr/local/bin:/bin", "APP_HOME=/app"}
		cf.Config.User = "1000:1000"
	}, entries)
	dir := t.TempDir()
	b.digest = buildtest.WriteLayout(t, dir, b.img)
	b.layout = "oci-layout://" + dir + "@" + b.digest.String()
	b.reg = registrytest.New(t, registrytest.WithGGCR(false))
	ref, err := name.ParseReference(b.reg.Host + "/base:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, b.img); err != nil {
		t.Fatal(err)
	}
	b.registry = b.reg.Host + "/base@" + b.digest.String()
	b.registryHost = b.reg.Host
	return b
}

// applets lists busybox's applets, so the base has ls, mkdir, cat, id... as real commands.
func applets(t *testing.T) []string {
	out, err := exec.Command(buildtest.BusyboxBin, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	var list []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			list = append(list, a)
		}
	}
	return list
}

func needOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: %s", reason)
	}
	t.Skip(reason)
}

// testPlugin is a plugin's definition and files (relative to its folder).
type testPlugin struct {
	name  string
	files map[string]string // name -> content; names ending in .sh are executable
	build contract.Steps
}

// filesLayer is the daemonless layer of the plugin's files, made as the builder makes it.
func (p testPlugin) filesLayer(t *testing.T, epoch time.Time) *layer.Layer {
	t.Helper()
	var entries []layer.Entry
	for n, c := range p.files {
		mode := int64(0o644)
		if strings.HasSuffix(n, ".sh") {
			mode = 0o755
		}
		entries = append(entries, layer.Entry{Name: pluginsDir + "/" + p.name + "/" + n, Type: tar.TypeReg, Mode: mode, Data: []byte(c)})
	}
	l, err := layer.New(entries, layer.WithEpoch(epoch), layer.WithOwner(uid, gid),
		layer.WithRoot(pluginsDir+"/"+p.name), layer.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var epoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func (p testPlugin) request(t *testing.T, baseRef string, base *testBase, progress io.Writer) contract.StepRequest {
	ref, err := imageref.Parse(baseRef, "/")
	if err != nil {
		t.Fatal(err)
	}
	return contract.StepRequest{
		Plugin:    p.name,
		Steps:     p.build,
		Platform:  v1.Platform{OS: "linux", Architecture: "amd64"},
		BaseRef:   ref,
		Base:      base.img,
		PluginTar: p.filesLayer(t, epoch).Uncompressed,
		PluginDir: pluginsDir + "/" + p.name,
		UID:       uid, GID: gid,
		Epoch:     epoch,
		MediaType: types.OCILayer,
		Progress:  progress,
	}
}

func newEngine(t *testing.T, addr string, opts ...Option) *Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := New(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", addr, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func run(t *testing.T, e *Engine, req contract.StepRequest) (v1.Layer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return e.RunSteps(ctx, req)
}

func mustRun(t *testing.T, e *Engine, req contract.StepRequest) v1.Layer {
	t.Helper()
	l, err := run(t, e, req)
	if err != nil {
		t.Fatalf("RunSteps %s: %v", req.Plugin, err)
	}
	return l
}

// tarEntry is what a test compares of a layer entry.
type tarEntry struct {
	Type     byte
	Mode     int64
	UID, GID int
	Link     string
	Data     string
	ModTime  time.Time
}

func entriesOf(t *testing.T, l v1.Layer) map[string]tarEntry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]tarEntry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var data bytes.Buffer
		io.Copy(&data, tr)
		out["/"+strings.TrimSuffix(h.Name, "/")] = tarEntry{Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid,
			Link: h.Linkname, Data: data.String(), ModTime: h.ModTime.UTC()}
	}
}

func digestOf(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// startMTLS starts a second daemon that also listens on tcp://127.0.0.1 with mutual TLS.
func startMTLS(t *testing.T) *buildkittest.Daemon {
	t.Helper()
	if shared == nil {
		t.Fatal("no shared daemon")
	}
	return buildkittest.Start(t, buildkittest.WithMTLS())
}

// withLayer adds l on top of the base and rewrites its OCI layout (the registry copy is left
// as it was: tests using withLayer build from the layout).
func (b *testBase) withLayer(t *testing.T, l v1.Layer) {
	t.Helper()
	img, err := mutate.AppendLayers(b.img, l)
	if err != nil {
		t.Fatal(err)
	}
	b.withImage(t, img)
}

// withImage replaces the base with img, written to a new OCI layout.
func (b *testBase) withImage(t *testing.T, img v1.Image) {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	if b.digest, err = img.Digest(); err != nil {
		t.Fatal(err)
	}
	b.img, b.layout, b.registry = img, "oci-layout://"+dir+"@"+b.digest.String(), ""
}
