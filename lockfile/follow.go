package lockfile

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/tomldecode"
	"github.com/graft-build/graft/internal/usererr"
)

// follows reports whether pl's source has a template that follows the base's version.
func (pl Plugin) follows() bool {
	s := pl.Source
	return IsTemplate(s.Ref) || IsTemplate(s.URL) || IsTemplate(s.Maven) || IsTemplate(s.OCI)
}

// NeedsBaseVersion reports whether graft.lock records the base's version: graft.toml has
// [base_version], or a plugin declares [compat] or has a source following the base.
func (p *Project) NeedsBaseVersion() bool {
	if p.Site.BaseVersion != (BaseVersion{}) {
		return true
	}
	for _, pl := range p.Plugins {
		if pl.Compat.Base != "" || pl.follows() {
			return true
		}
	}
	return false
}

// baseVersionFrom says where the version is read, for messages.
func (p *Project) baseVersionFrom() string {
	b := p.Site.BaseVersion
	switch {
	case b.Env != "":
		return "environment variable " + b.Env + " of the base image"
	case b.Tag:
		return "the base's tag"
	case b.Label != "":
		return "label " + b.Label + " of the base image"
	}
	return "label " + DefaultVersionLabel + " of the base image (else its tag)"
}

// ReadBaseVersion reads the base application's version from the resolved base image as
// graft.toml's [base_version] says: a label, an environment variable of its config, or the tag
// of graft.toml's base. Without [base_version]: the label org.opencontainers.image.version,
// else the tag. A version that cannot be read is bad input at graft.toml's base_version.
func (p *Project) ReadBaseVersion(ref imageref.Ref, res *imageref.Resolved) (string, error) {
	b := p.Site.BaseVersion
	cf, err := configOf(res)
	if err != nil {
		return "", fmt.Errorf("base image %s: %w", p.Site.Base, err)
	}
	var v string
	switch {
	case b.Env != "":
		for _, kv := range cf.Config.Env {
			if k, val, ok := strings.Cut(kv, "="); ok && k == b.Env {
				v = val
			}
		}
	case b.Tag:
		v = ref.CurrentTag()
	case b.Label != "":
		v = cf.Config.Labels[b.Label]
	default:
		if v = cf.Config.Labels[DefaultVersionLabel]; v == "" {
			v = ref.CurrentTag()
		}
	}
	if v == "" {
		return "", p.siteErr("base_version", "base image %s has no version in %s; set [base_version] label = \"...\", env = \"VARIABLE\" or tag = true in graft.toml",
			p.Site.Base, p.baseVersionFrom())
	}
	if _, err := ParseAppVersion(v); err != nil {
		return "", p.siteErr("base_version", "base image %s: the version read from %s is %v; read it from elsewhere ([base_version])",
			p.Site.Base, p.baseVersionFrom(), err)
	}
	return v, nil
}

// configOf is the image config of res (an index's first image).
func configOf(res *imageref.Resolved) (*v1.ConfigFile, error) {
	img, err := firstImage(res)
	if err != nil {
		return nil, err
	}
	return img.ConfigFile()
}

// firstImage is res's image, or an index's first one.
func firstImage(res *imageref.Resolved) (v1.Image, error) {
	if res.Image != nil {
		return res.Image, nil
	}
	m, err := res.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.MediaType.IsImage() {
			return res.Index.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("the index holds no image")
}

// LockedBaseVersion is graft.lock's base version, parsed; nil when the lock records none.
func (p *Project) LockedBaseVersion() (*AppVersion, error) {
	if p.Lock == nil || p.Lock.Base.Version == "" {
		return nil, nil
	}
	v, err := ParseAppVersion(p.Lock.Base.Version)
	if err != nil {
		return nil, usererr.New("%s: base.version: %v; %s", p.shownPath(LockFile), err, damaged)
	}
	return &v, nil
}

// RenderSource is pl's source with its templates filled for base version v (nil: none known,
// an error when the source follows the base).
func (p *Project) RenderSource(pl Plugin, v *AppVersion) (Source, error) {
	s := pl.Source
	if !pl.follows() {
		return s, nil
	}
	if v == nil {
		return s, p.pluginErr(pl, sourceKey(s), "plugin %s follows the base's version, which graft.lock does not record; run `graft lock`", pl.Name)
	}
	for _, f := range []struct {
		key string
		v   *string
	}{{"source.ref", &s.Ref}, {"source.url", &s.URL}, {"source.maven", &s.Maven}, {"source.oci", &s.OCI}} {
		out, err := Render(*f.v, *v)
		if err != nil {
			return s, p.pluginErr(pl, f.key, "%q: %v", *f.v, err)
		}
		*f.v = out
	}
	return s, nil
}

// lockedSource is pl's source rendered with graft.lock's base version.
func (p *Project) lockedSource(pl Plugin) (Source, error) {
	v, err := p.LockedBaseVersion()
	if err != nil {
		return pl.Source, err
	}
	return p.RenderSource(pl, v)
}

// Incompatible is a plugin whose [compat] base range excludes a base version.
type Incompatible struct {
	Plugin string `json:"plugin"`
	Range  string `json:"range"`
	Base   string `json:"base"`
}

// CompatErr is bad input at pl's compat.base when base version v is outside its range.
func (p *Project) CompatErr(pl Plugin, v AppVersion) error {
	if pl.Compat.Base == "" {
		return nil
	}
	r, err := ParseRange(pl.Compat.Base)
	if err != nil {
		return p.pluginErr(pl, "compat.base", "%v", err)
	}
	if r.Allows(v) {
		return nil
	}
	return p.pluginErr(pl, "compat.base", "plugin %s supports base versions %s, but the base %s is version %s (from %s); "+
		"use a version of the plugin made for it, or another base", pl.Name, r, p.Site.Base, v.Version, p.baseVersionFrom())
}

// CheckCompat refuses plugins whose [compat] base range excludes graft.lock's base version, one
// line each (graft build checks this before building).
func (p *Project) CheckCompat() error {
	v, err := p.LockedBaseVersion()
	if err != nil || v == nil {
		return err
	}
	var errs tomldecode.Errors
	for _, pl := range p.Plugins {
		if e, ok := p.CompatErr(pl, *v).(*tomldecode.Error); ok {
			errs = append(errs, e)
		}
	}
	return errs.Err()
}

// Upgrade is what moving the base to another version means for one plugin (see PlanBase).
type Upgrade struct {
	Plugin string `json:"plugin"`
	// Blocks: the plugin's [compat] excludes the version, or the ref it would follow is not in
	// its repository (Reason says which).
	Blocks bool   `json:"blocks,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Moves: the plugin's source follows the base and would change, from OldRef to NewRef
	// (a branch, tag, URL, coordinates or reference).
	Moves  bool   `json:"moves,omitempty"`
	OldRef string `json:"old_ref,omitempty"`
	NewRef string `json:"new_ref,omitempty"`
}

// PlanBase says, for a candidate base version, which plugins would block the upgrade (their
// [compat] excludes it, or the branch or tag their ref would follow does not exist) and which
// would move with it (their source follows the base). Plugins neither blocking nor moving are
// left out. It contacts the git repositories of plugins whose ref would move, to see whether the
// new ref exists; it writes nothing.
func (p *Project) PlanBase(ctx context.Context, candidate string, opts ...ResolveOption) ([]Upgrade, error) {
	v, err := ParseAppVersion(candidate)
	if err != nil {
		return nil, usererr.New("base version %v", err)
	}
	return p.planBase(ctx, newResolveConfig(opts), v)
}

// candidateVersion is the base application's version at another tag of the base: the tag itself
// when graft.toml reads it from the tag, else read from that image's config as for the base.
func (p *Project) candidateVersion(ctx context.Context, cfg *resolveConfig, ref imageref.Ref, tag string) (AppVersion, error) {
	if p.Site.BaseVersion.Tag {
		return ParseAppVersion(tag)
	}
	raw, ok := ref.WithTag(tag)
	if !ok {
		return AppVersion{}, fmt.Errorf("base %s names no tag", p.Site.Base)
	}
	cand, err := imageref.Parse(raw, p.Dir, imageref.ShortNamesAreRemote())
	if err != nil {
		return AppVersion{}, err
	}
	res, err := cand.Resolve(ctx, cfg.image...)
	if err != nil {
		return AppVersion{}, fmt.Errorf("base %s: %w", raw, err)
	}
	s, err := p.ReadBaseVersion(cand, res)
	if err != nil {
		return AppVersion{}, err
	}
	return ParseAppVersion(s)
}

func (p *Project) planBase(ctx context.Context, cfg *resolveConfig, v AppVersion) ([]Upgrade, error) {
	old, err := p.LockedBaseVersion()
	if err != nil {
		return nil, err
	}
	out := make([]*Upgrade, len(p.Plugins))
	err = forEach(ctx, cfg.jobs, len(p.Plugins), func(ctx context.Context, i int) error {
		u, err := p.planPlugin(ctx, cfg, p.Plugins[i], old, v)
		out[i] = u
		return err
	})
	if err != nil {
		return nil, err
	}
	var list []Upgrade
	for _, u := range out {
		if u != nil {
			list = append(list, *u)
		}
	}
	return list, nil
}

func (p *Project) planPlugin(ctx context.Context, cfg *resolveConfig, pl Plugin, old *AppVersion, v AppVersion) (*Upgrade, error) {
	u := &Upgrade{Plugin: pl.Name}
	if pl.Compat.Base != "" {
		if r, err := ParseRange(pl.Compat.Base); err == nil && !r.Allows(v) {
			u.Blocks, u.Reason = true, fmt.Sprintf("supports base %s, not %s", r, v.Version)
		}
	}
	if pl.follows() {
		now, err := p.RenderSource(pl, &v)
		if err != nil {
			return nil, err
		}
		before := pl.Source
		if old != nil {
			if before, err = p.RenderSource(pl, old); err != nil {
				return nil, err
			}
		}
		u.OldRef, u.NewRef = sourceName(before), sourceName(now)
		u.Moves = u.OldRef != u.NewRef
		if u.Moves && now.Type() == TypeGit && !u.Blocks {
			if reason, err := p.refMissing(ctx, cfg, pl, now.Ref); err != nil {
				return nil, err
			} else if reason != "" {
				u.Blocks, u.Reason = true, reason
			}
		}
	}
	if !u.Blocks && !u.Moves {
		return nil, nil
	}
	return u, nil
}

// sourceName is what a source names: a git ref, a URL, coordinates or an image reference.
func sourceName(s Source) string {
	switch s.Type() {
	case TypeURL:
		return fillVersion(s.URL, s.Version)
	case TypeMaven:
		return s.Maven
	case TypeOCI:
		return s.OCI
	}
	return s.Ref
}

// refMissing says why ref cannot be locked in pl's repository ("" when it exists).
func (p *Project) refMissing(ctx context.Context, cfg *resolveConfig, pl Plugin, ref string) (string, error) {
	var reason string
	err := p.bounded(ctx, cfg, pl, func(ctx context.Context) error {
		r, err := p.open(ctx, cfg, pl)
		if err != nil {
			return err
		}
		defer r.Close()
		if _, _, ok := Lookup(r, ref); !ok {
			reason = fmt.Sprintf("no branch or tag %s in %s yet", ref, r.URL())
		}
		return nil
	})
	return reason, err
}
