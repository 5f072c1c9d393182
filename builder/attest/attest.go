// Package attest describes a built image for supply-chain tools: an SPDX 2.3 SBOM (base image,
// every plugin with its source and licence, the launcher with its Go modules), the same SBOM as
// an in-toto statement, and an in-toto statement with a SLSA v1 provenance predicate (the lock
// and definitions as the build definition, the base and each plugin as resolved dependencies).
// They are deterministic: derived from the lock, the image and (for plugins kept in the site
// repository) the site's git history, never from the clock or the machine. Attach makes them,
// with the image's cosign signature, as the attachments graft build publishes. It also reads them
// back from where graft or cosign attached them, and checks their signatures with a key.
package attest

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/lockfile"
)

// Media types of the attached documents (the artifactType of their referrer manifests).
const (
	SBOMMediaType       = "application/spdx+json"
	ProvenanceMediaType = "application/vnd.in-toto+json"
)

// Launcher is one platform's graft-launcher binary as the image carries it.
type Launcher struct {
	Platform string // "linux/amd64"
	Version  string
	Binary   []byte
}

// Input is everything the documents describe.
type Input struct {
	Project   *lockfile.Project
	Result    *contract.Result
	Launchers []Launcher
	// Name is the repository the image is known as (the SBOM's image package, the statements'
	// subject): the first -t name without its tag, else graft.toml's name, else "image".
	Name string
	// Licenses maps a plugin name to its SPDX licence expression; missing means NOASSERTION.
	Licenses map[string]string
	// LockDigest is the sha256 of graft.lock as read ("sha256:...").
	LockDigest string
	// Local says where each local plugin's folder lives in the site repository.
	Local map[string]LocalSource

	cache LicenseCache // may be nil
}

// LicenseCache keeps licence verdicts by ID (see licenseID): reading a plugin's licence files
// means decompressing its whole layer, which a no-op rebuild of 200 plugins, or a fresh runner
// whose layers are in a registry, should not pay again. License returns the kept verdict, else
// what detect says (and keeps it). "" is a verdict too (none found). builder/buildcache.Cache
// is one.
type LicenseCache interface {
	License(id string, detect func() (string, error)) (string, error)
}

// Option configures NewInput.
type Option func(*Input)

// WithLicenseCache looks licence verdicts up in c, and records new ones there.
func WithLicenseCache(c LicenseCache) Option { return func(in *Input) { in.cache = c } }

// WithName names the image by ref (a -t name: "registry.example.org/lib/site:v3"), without its
// tag or digest: tags move, the documents are about one digest in that repository.
func WithName(ref string) Option {
	return func(in *Input) {
		if ref != "" {
			in.Name = Repository(ref)
		}
	}
}

// Repository is ref without its :tag or @digest.
func Repository(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// licenseID names the verdict for one layer: its digest (the plugin's folder is part of the
// layer's content) and the detector's version (its licences, threshold and ID mapping).
func licenseID(layer v1.Hash) string {
	sum := sha256.Sum256([]byte("graft-license/2\x00licensecheck v0.3.1+ECL-2.0 notice, 75%, current SPDX ids\x00" + layer.String()))
	return hex.EncodeToString(sum[:])
}

// NewInput gathers the input from a build: the launcher binary of each built platform (from
// src) and each plugin's licence (from its layer in the image).
func NewInput(p *lockfile.Project, res *contract.Result, src contract.LauncherSource, opts ...Option) (*Input, error) {
	in := &Input{Project: p, Result: res, Name: Repository(p.Site.Name), Licenses: map[string]string{}, Local: localSources(p)}
	if in.Name == "" {
		in.Name = "image"
	}
	for _, o := range opts {
		o(in)
	}
	lock, err := os.ReadFile(filepath.Join(p.Dir, lockfile.LockFile))
	if err != nil {
		return nil, fmt.Errorf("attestations: %w", err)
	}
	sum := sha256.Sum256(lock)
	in.LockDigest = "sha256:" + hex.EncodeToString(sum[:])
	for _, name := range res.Platforms {
		plat, err := v1.ParsePlatform(name)
		if err != nil {
			return nil, fmt.Errorf("attestations: platform %s: %w", name, err)
		}
		bin, version, err := src.Launcher(*plat)
		if err != nil {
			return nil, fmt.Errorf("attestations: %w", err)
		}
		in.Launchers = append(in.Launchers, Launcher{Platform: name, Version: version, Binary: bin})
	}
	if err := in.detectLicenses(); err != nil {
		return nil, fmt.Errorf("attestations: %w", err)
	}
	return in, nil
}

// detectLicenses reads each plugin's licence files from its layer in the image (the first
// platform's: every platform holds the same plugin files), so a build that took every layer
// from the cache (and read no git objects) still finds them.
func (in *Input) detectLicenses() error {
	if len(in.Result.Platforms) == 0 {
		return errors.New("the build holds no image")
	}
	first := in.Result.Platforms[0]
	img, err := in.Result.PlatformImage(first)
	if err != nil {
		return err
	}
	for _, info := range in.Result.PlatformLayers(first) {
		if info.Kind != contract.KindPlugin {
			continue
		}
		l, err := img.LayerByDigest(info.Digest)
		if err != nil {
			return fmt.Errorf("plugin %s: %w", info.Plugin, err)
		}
		pk := in.Project.PluginLock(info.Plugin)
		if pk == nil {
			return fmt.Errorf("plugin %s is not in graft.lock", info.Plugin)
		}
		lic, err := in.layerLicense(l, in.Project.Target(*pk))
		if err != nil {
			return fmt.Errorf("plugin %s: licence files: %w", info.Plugin, err)
		}
		if lic != "" {
			in.Licenses[info.Plugin] = lic
		}
	}
	return nil
}

// layerLicense is the licence of the plugin whose folder dir is in layer l: from the cache,
// else read from the layer and recorded.
func (in *Input) layerLicense(l v1.Layer, dir string) (string, error) {
	d, err := l.Digest()
	if err != nil {
		return "", err
	}
	detect := func() (string, error) {
		texts, err := licenseFiles(l, dir)
		if err != nil {
			return "", err
		}
		return DetectLicense(texts), nil
	}
	if in.cache == nil {
		return detect()
	}
	return in.cache.License(licenseID(d), detect)
}

// maxLicenseFile bounds how much of one licence file is read: licence texts are kilobytes.
const maxLicenseFile = 1 << 20

// licenseFiles are the contents of LICENSE*, LICENCE*, COPYING* and NOTICE-free variants at
// the top of dir in the layer, sorted by name.
func licenseFiles(l v1.Layer, dir string) ([][]byte, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg || path.Dir(name) != dir || !isLicenseName(path.Base(name)) {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxLicenseFile))
		if err != nil {
			return nil, err
		}
		found[path.Base(name)] = data
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		out = append(out, found[n])
	}
	return out, nil
}

func isLicenseName(base string) bool {
	u := strings.ToUpper(base)
	for _, p := range []string{"LICENSE", "LICENCE", "COPYING", "UNLICENSE"} {
		if u == p || strings.HasPrefix(u, p+".") || strings.HasPrefix(u, p+"-") || strings.HasPrefix(u, p+"_") {
			return true
		}
	}
	return false
}
