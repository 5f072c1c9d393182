// Package ciimage builds graft's own image for CI (`image: REGISTRY/graft:VERSION` in GitLab CI,
// a container step in GitHub Actions) daemonlessly and reproducibly, with graft's layer code:
// graft (launchers embedded), CA certificates, a static busybox (GitLab runs job scripts with a
// shell), and a non-root user. The same inputs give the same digest.
package ciimage

import (
	"archive/tar"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/elfcheck"
)

// Paths and the user inside the image.
const (
	GraftPath = "/usr/local/bin/graft"
	CAPath    = "/etc/ssl/certs/ca-certificates.crt"
	Home      = "/home/nonroot"
	UID       = 65532 // distroless's nonroot
)

// Applets are the busybox commands linked in /bin: a shell and what CI scripts commonly use.
var Applets = []string{"sh", "cat", "cp", "echo", "env", "grep", "head", "id", "ls", "mkdir",
	"mv", "printf", "rm", "sed", "tail", "tee", "test", "tr", "true", "false", "wc", "["}

// Inputs are what the image is made of.
type Inputs struct {
	Graft   []byte // graft for linux/Arch, static, launchers embedded
	Busybox []byte // a static busybox for linux/Arch
	CA      []byte // PEM bundle of CA certificates
	Version string // graft's version (a label)
	Arch    string // amd64, arm64
	Epoch   time.Time
}

// Image assembles the image: a system layer (users, CA bundle, busybox, /tmp), the home folder
// owned by the non-root user, and graft, whose layer alone changes between versions.
func Image(in Inputs) (v1.Image, error) {
	p := v1.Platform{OS: "linux", Architecture: in.Arch}
	if len(in.CA) == 0 {
		return nil, fmt.Errorf("graft image: no CA certificates")
	}
	for name, bin := range map[string][]byte{"graft": in.Graft, "busybox": in.Busybox} {
		if err := elfcheck.Static(bin, p); err != nil {
			return nil, fmt.Errorf("graft image: %s: %v", name, err)
		}
	}
	sys := []layer.Entry{
		{Name: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/bin/sh\n", UID, UID, Home))},
		{Name: "/etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID))},
		{Name: CAPath, Type: tar.TypeReg, Mode: 0o644, Data: in.CA},
		{Name: "/bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: in.Busybox},
		{Name: "/tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "/home", Type: tar.TypeDir, Mode: 0o755},
	}
	for _, a := range Applets {
		sys = append(sys, layer.Entry{Name: "/bin/" + a, Type: tar.TypeSymlink, Linkname: "busybox"})
	}
	opts := []layer.Option{layer.WithEpoch(in.Epoch), layer.WithMediaType(types.OCILayer)}
	sysL, err := layer.New(sys, opts...)
	if err != nil {
		return nil, fmt.Errorf("graft image: system layer: %w", err)
	}
	homeL, err := layer.New([]layer.Entry{{Name: Home, Type: tar.TypeDir, Mode: 0o755}},
		append(opts, layer.WithRoot(Home), layer.WithOwner(UID, UID))...)
	if err != nil {
		return nil, fmt.Errorf("graft image: home layer: %w", err)
	}
	graftL, err := layer.New([]layer.Entry{{Name: GraftPath, Type: tar.TypeReg, Mode: 0o755, Data: in.Graft}}, opts...)
	if err != nil {
		return nil, fmt.Errorf("graft image: graft layer: %w", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: in.Epoch.UTC()}
	for _, a := range []mutate.Addendum{
		{Layer: sysL, History: v1.History{Created: created, CreatedBy: "graft image: users, CA certificates, busybox"}},
		{Layer: homeL, History: v1.History{Created: created, CreatedBy: "graft image: " + Home}},
		{Layer: graftL, History: v1.History{Created: created, CreatedBy: "graft image: graft " + in.Version}},
	} {
		a.MediaType = types.OCILayer
		if img, err = mutate.Append(img, a); err != nil {
			return nil, fmt.Errorf("graft image: %w", err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", in.Arch, created
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", UID, UID),
		Env:        []string{"PATH=/usr/local/bin:/bin", "HOME=" + Home, "SSL_CERT_FILE=" + CAPath},
		Entrypoint: []string{GraftPath},
		Cmd:        []string{"version"},
		WorkingDir: Home,
		Labels: map[string]string{
			"org.opencontainers.image.title":   "graft",
			"org.opencontainers.image.version": in.Version,
			"org.opencontainers.image.source":  "https://github.com/graft-build/graft",
		},
	}
	return mutate.ConfigFile(img, cf)
}
