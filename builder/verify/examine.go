package verify

import (
	"bytes"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/contract"
)

// examined is the subject read: its index (if any) and the image of each platform.
type examined struct {
	subj     Subject
	digest   v1.Hash // reported as the digest examined
	indexRaw []byte
	index    *v1.IndexManifest
	images   []platformImage
	created  time.Time // the first image's created label
	unlocked string    // the first image's org.graft.unlocked label: plugins built with --override
}

// platformImage is one image of the subject and the descriptor that names it (its digest is
// the subject's Digest for a single image).
type platformImage struct {
	name string // os/arch[/variant]
	desc v1.Descriptor
	img  v1.Image
}

func (ex *examined) platformNames() []string {
	out := make([]string, len(ex.images))
	for i, pi := range ex.images {
		out[i] = pi.name
	}
	return out
}

// examine reads the subject's index and images enough to plan the rebuild: which platforms,
// which created time. Nothing read here is trusted yet: the comparison checks every blob.
// An image whose config cannot be read is taken for the plan's platform when it builds one
// (fallback): the comparison then names what is wrong with the config.
func examine(subj Subject, fallback []string) (*examined, error) {
	ex := &examined{subj: subj, digest: subj.Digest}
	switch {
	case subj.Index != nil:
		if err := ex.readIndex(); err != nil {
			return nil, err
		}
	case subj.Image != nil:
		name, err := configPlatform(subj.Image)
		if err != nil && len(fallback) != 1 {
			return nil, err // no platform: nothing to rebuild it for
		} else if err != nil {
			name = fallback[0]
		}
		ex.images = []platformImage{{name: name, desc: v1.Descriptor{Digest: subj.Digest}, img: subj.Image}}
	default:
		return nil, fmt.Errorf("no image to examine")
	}
	if len(ex.images) == 0 {
		return nil, fmt.Errorf("the index holds no image")
	}
	// A config that cannot be read is a difference the comparison names; one without graft's
	// labels is an image graft did not build.
	var err error
	if cf, cerr := ex.images[0].img.ConfigFile(); cerr == nil {
		if ex.created, err = createdOf(cf); err != nil {
			return nil, err
		}
		ex.unlocked = cf.Config.Labels[contract.LabelUnlocked]
	}
	switch {
	case subj.Manifestless:
		// Docker names an image it loaded by its config's digest (the image ID).
		if ex.digest, err = ex.images[0].img.ConfigName(); err != nil {
			return nil, err
		}
	case isZero(ex.digest) && ex.index != nil:
		ex.digest = sha256Of(ex.indexRaw)
	case isZero(ex.digest):
		raw, err := subj.Image.RawManifest()
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		ex.digest = sha256Of(raw)
	}
	return ex, nil
}

func (ex *examined) readIndex() error {
	raw, err := ex.subj.Index.RawManifest()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	ex.indexRaw, ex.index = raw, m
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() {
			continue // compared as an index entry the lock does not build
		}
		img, err := ex.subj.Index.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("image %s: %w", d.Digest, err)
		}
		name := ""
		if d.Platform != nil {
			name = contract.Platform(*d.Platform)
		} else if name, err = configPlatform(img); err != nil {
			return fmt.Errorf("image %s: %w", d.Digest, err)
		}
		ex.images = append(ex.images, platformImage{name: name, desc: d, img: img})
	}
	return nil
}

// configPlatform is the platform an image's config declares.
func configPlatform(img v1.Image) (string, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return contract.Platform(contract.ConfigPlatform(cf)), nil
}
