// Package base builds the demo's base image offline, from scratch: demo-app, Debian's static
// busybox (the shell plugin hooks and build steps need), an app user and the app's folders. The
// same inputs give the same digest on any machine: one layer written entry by entry in path
// order with fixed times and owners, and a config without host details.
package base

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths inside the image; the demo site's graft.toml and launcher settings use them.
const (
	AppBin      = "/usr/local/bin/demo-app"
	PluginsDir  = "/srv/demo/plugins"
	DataDir     = "/srv/demo/data"
	TmpDir      = "/srv/demo/tmp"
	ConfigDir   = "/srv/demo/config"
	TemplateDir = "/srv/demo/templates"
	PortDir     = "/run/graft/ports"
	LibDir      = "/usr/local/lib/demo"
	Tag         = "demo-base"
)

// AppUID is the app user's uid and gid.
const AppUID = 1000

// DefaultEpoch is the image's time unless SOURCE_DATE_EPOCH says otherwise: 2024-05-13, the day
// ArchivesSpace issue #3198 asked for container deployments.
var DefaultEpoch = time.Date(2024, 5, 13, 0, 0, 0, 0, time.UTC)

// BusyboxApplets are linked in /bin: what hooks, build steps and an operator's shell need.
var BusyboxApplets = []string{"sh", "ash", "cat", "chmod", "cp", "date", "echo", "env", "false",
	"grep", "head", "hostname", "id", "ls", "mkdir", "mv", "nc", "printf", "rm", "sed", "sleep",
	"sort", "tail", "test", "touch", "tr", "true", "wc", "["}

// Inputs are the files the image is made of.
type Inputs struct {
	App       []byte            // the demo-app binary (static, linux)
	Busybox   []byte            // a static busybox binary
	Templates map[string][]byte // file name in TemplateDir -> content
	Lib       map[string][]byte // file name in LibDir -> content (scripts for build steps)
	Epoch     time.Time
	Arch      string // amd64, arm64
}

type entry struct {
	hdr  tar.Header
	body []byte
}

// Image assembles the base image.
func Image(in Inputs) (v1.Image, error) {
	if len(in.App) == 0 || len(in.Busybox) == 0 {
		return nil, fmt.Errorf("base image: the demo-app and busybox binaries are both needed")
	}
	data, err := layerTar(in)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: in.Epoch}, CreatedBy: "graft plugins-example demo base", Comment: "demo-app + busybox"}})
	if err != nil {
		return nil, fmt.Errorf("base image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = in.Arch, "linux"
	cf.Created = v1.Time{Time: in.Epoch}
	cf.Config = imageConfig()
	return mutate.ConfigFile(img, cf)
}

func imageConfig() v1.Config {
	return v1.Config{
		User:         fmt.Sprintf("%d:%d", AppUID, AppUID),
		Env:          []string{"PATH=/usr/local/bin:/bin", "DEMO_CONFIG=" + ConfigDir + "/demo.conf"},
		WorkingDir:   "/srv/demo",
		Entrypoint:   []string{AppBin},
		Cmd:          []string{"serve"},
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "8081/tcp": {}, "8089/tcp": {}, "8091/tcp": {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "graft demo base",
			"org.opencontainers.image.description": "demo-app (a stand-in for ArchivesSpace) and a static busybox",
		},
	}
}

// layerTar writes the single layer: entries sorted by path, parents first, fixed times.
func layerTar(in Inputs) ([]byte, error) {
	entries := baseEntries(in)
	sort.Slice(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = in.Epoch.Truncate(time.Second)
		h.Format = tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("base layer %s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("base layer %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func dir(name string, mode int64, owner int) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: owner, Gid: owner}}
}

func file(name string, mode int64, body []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, body: body}
}

func link(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func baseEntries(in Inputs) []entry {
	es := []entry{
		dir("bin", 0o755, 0), dir("etc", 0o755, 0), dir("usr", 0o755, 0), dir("usr/local", 0o755, 0),
		dir("usr/local/bin", 0o755, 0), dir("usr/local/lib", 0o755, 0), dir(LibDir[1:], 0o755, 0),
		dir("tmp", 0o1777, 0), dir("root", 0o700, 0), dir("run", 0o755, 0),
		dir("run/graft", 0o755, AppUID), dir(PortDir[1:], 0o755, AppUID),
		dir("srv", 0o755, 0), dir("srv/demo", 0o755, AppUID), dir(PluginsDir[1:], 0o755, AppUID),
		dir(DataDir[1:], 0o755, AppUID), dir(TmpDir[1:], 0o755, AppUID), dir(ConfigDir[1:], 0o755, AppUID),
		dir(TemplateDir[1:], 0o755, 0),
		file("bin/busybox", 0o755, in.Busybox),
		file(AppBin[1:], 0o755, in.App),
		file("etc/passwd", 0o644, []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/bin/sh\napp:x:%d:%d:demo app:/srv/demo:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
			AppUID, AppUID))),
		file("etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\napp:x:%d:\nnogroup:x:65534:\n", AppUID))),
	}
	for _, a := range BusyboxApplets {
		es = append(es, link(path.Join("bin", a), "busybox"))
	}
	for name, body := range in.Templates {
		es = append(es, file(path.Join(TemplateDir[1:], name), 0o644, body))
	}
	for name, body := range in.Lib {
		es = append(es, file(path.Join(LibDir[1:], name), 0o755, body))
	}
	return es
}

// WriteLayout writes img into a fresh OCI layout at dir, tagged Tag, replacing what was there.
func WriteLayout(dir string, img v1.Image) (v1.Hash, error) {
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write layout %s: %w", dir, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": Tag})); err != nil {
		return v1.Hash{}, fmt.Errorf("write layout %s: %w", dir, err)
	}
	return img.Digest()
}
