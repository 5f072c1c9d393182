package builder

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

// baseImage is the locked base, resolved.
type baseImage struct {
	written string       // graft.toml's base as written (machine-independent, for labels)
	ref     imageref.Ref // pinned by the locked digest
	digest  v1.Hash
	index   v1.ImageIndex // nil for a single-platform base
	indexMT types.MediaType
	plats   []*basePlatform
	created time.Time // newest Created among the selected platforms
}

// basePlatform is one platform's image of the base.
type basePlatform struct {
	platform   v1.Platform
	image      v1.Image
	digest     v1.Hash
	manifestMT types.MediaType
	layerMT    types.MediaType
	config     *v1.ConfigFile
	uid, gid   int
	ref        string // the platform's manifest by digest, for a StepRunner
}

func (bp *basePlatform) name() string { return platformString(bp.platform) }

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func resolveBase(ctx context.Context, p *lockfile.Project, o *options) (*baseImage, error) {
	ref, err := p.BaseRef()
	if err != nil {
		return nil, err
	}
	locked := p.Lock.Base.Digest
	if _, err := v1.NewHash(locked); err != nil {
		return nil, usererr.New("%s: base digest %q is not sha256:<hex>; run `graft lock`", filepath.Join(p.Dir, lockfile.LockFile), locked)
	}
	pinned := ref
	if ref.Kind != imageref.DockerArchive {
		pinned = ref.Pinned(locked)
	}
	res, err := pinned.Resolve(ctx, o.resolve...)
	if err != nil {
		return nil, fmt.Errorf("base image %s (locked at %s) cannot be read: %w; if it moved or was deleted, "+
			"point graft.toml's base at where it is now and run `graft lock`", p.Site.Base, locked, err)
	}
	if res.Digest.String() != locked {
		return nil, usererr.New("base image %s is now %s but graft.lock has %s; run `graft lock` to build on the new base",
			p.Site.Base, res.Digest, locked)
	}
	if err := checkBaseVersion(p, ref, res); err != nil {
		return nil, err
	}
	b := &baseImage{written: p.Site.Base, ref: pinned, digest: res.Digest, index: res.Index, indexMT: res.MediaType}
	wanted := o.platforms
	if len(wanted) == 0 {
		wanted = p.Site.Platforms
	}
	if err := b.selectPlatforms(res, wanted); err != nil {
		return nil, err
	}
	for _, bp := range b.plats {
		if err := bp.load(p.Site.Owner, pinned); err != nil {
			return nil, fmt.Errorf("base image %s, %s: %w", p.Site.Base, bp.name(), err)
		}
		if c := bp.config.Created.Time; c.After(b.created) {
			b.created = c.UTC()
		}
	}
	return b, nil
}

// selectPlatforms picks the base's images for the wanted platforms (all when none wanted).
func (b *baseImage) selectPlatforms(res *imageref.Resolved, wanted []string) error {
	specs := make([]v1.Platform, 0, len(wanted))
	for _, w := range wanted {
		sp, err := v1.ParsePlatform(w)
		if err != nil {
			return usererr.New("platform %q: %v; write os/arch[/variant], e.g. linux/amd64", w, err)
		}
		specs = append(specs, *sp)
	}
	var cands []*basePlatform
	if res.Image != nil {
		cf, err := res.Image.ConfigFile()
		if err != nil {
			return fmt.Errorf("base image config: %w", err)
		}
		if cf.OS == "" || cf.Architecture == "" {
			// graft picks graft-launcher by platform; guessing one would ship a binary that may not run.
			return usererr.New("base image %s declares no platform (its config has os %q, architecture %q); "+
				"graft needs it to pick the graft-launcher binary: give the base image its platform (e.g. crane mutate --set-platform linux/amd64)",
				b.written, cf.OS, cf.Architecture)
		}
		cands = append(cands, &basePlatform{image: res.Image, digest: res.Digest,
			platform: v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}})
	} else {
		m, err := res.Index.IndexManifest()
		if err != nil {
			return fmt.Errorf("base image index: %w", err)
		}
		for _, d := range m.Manifests {
			// Attestations and other artifacts ride in indexes as platform unknown/unknown.
			if !d.MediaType.IsImage() || d.Platform == nil || d.Platform.OS == "unknown" {
				continue
			}
			img, err := res.Index.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("base image %s: %w", platformString(*d.Platform), err)
			}
			cands = append(cands, &basePlatform{image: img, digest: d.Digest, platform: *d.Platform})
		}
	}
	return b.match(cands, specs)
}

func (b *baseImage) match(cands []*basePlatform, specs []v1.Platform) error {
	if len(specs) == 0 {
		b.plats = cands
		return nil
	}
	var have []string
	for _, c := range cands {
		have = append(have, c.name())
	}
	for _, sp := range specs {
		found := false
		for _, c := range cands {
			if c.platform.Satisfies(sp) {
				b.plats, found = append(b.plats, c), true
				break
			}
		}
		if !found {
			return usererr.New("platform %s is not in the base image %s (it has: %s)", platformString(sp), b.written, strings.Join(have, ", "))
		}
	}
	return nil
}

// load reads the platform's manifest and config and decides the owner of added files.
func (bp *basePlatform) load(owner string, pinned imageref.Ref) error {
	var err error
	if bp.manifestMT, err = bp.image.MediaType(); err != nil {
		return err
	}
	bp.layerMT = types.OCILayer
	if bp.manifestMT == types.DockerManifestSchema2 {
		bp.layerMT = types.DockerLayer
	}
	if bp.config, err = bp.image.ConfigFile(); err != nil {
		return err
	}
	if owner == "" && isNumericOwner(bp.config.Config.User) {
		owner = bp.config.Config.User
	}
	bp.uid, bp.gid = parseOwner(owner)
	bp.ref = pinned.Pinned(bp.digest.String()).String()
	return nil
}

func isNumericOwner(s string) bool {
	uid, gid, ok := strings.Cut(s, ":")
	_, e1 := strconv.ParseUint(uid, 10, 32)
	_, e2 := strconv.ParseUint(gid, 10, 32)
	return ok && e1 == nil && e2 == nil
}

// parseOwner reads a validated "uid:gid"; "" is root.
func parseOwner(s string) (int, int) {
	if !isNumericOwner(s) {
		return 0, 0
	}
	uid, gid, _ := strings.Cut(s, ":")
	u, _ := strconv.Atoi(uid)
	g, _ := strconv.Atoi(gid)
	return u, g
}
