package lockfile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/tomldecode"
	"github.com/graft-build/graft/internal/usererr"
)

// BaseName is how `graft lock --update` and `--bump` name the base image beside plugins.
const BaseName = "base"

// BaseOutdated is what `graft outdated` reports for the base image.
type BaseOutdated struct {
	Ref    string `json:"ref"`    // graft.toml's base
	Locked string `json:"locked"` // the digest graft.lock pins
	// NotLocked: graft.toml's base is not the one graft.lock pins (edited since the lock); the
	// registry is not contacted.
	NotLocked bool `json:"not_locked,omitempty"`
	// Digest is what the reference names now when that is not the locked digest: the image was
	// rebuilt (or re-pushed) under the same tag, as security rebuilds of a base are.
	Digest string `json:"digest,omitempty"`
	// Tag is the version tag the base is at; "" when it names a digest, no tag, or a tag that
	// is no version (then newer tags cannot be told).
	Tag string `json:"tag,omitempty"`
	// NewerTags are the tags above Tag of the same shape, ascending (see newerBaseTags).
	NewerTags []BaseTag `json:"newer_tags,omitempty"`
}

// BaseTag is a newer tag of the base and what stands in the way of moving to it.
type BaseTag struct {
	Tag string `json:"tag"`
	// Version is the base application's version at this tag, when plugins need it.
	Version string `json:"version,omitempty"`
	// BlockedBy are the plugins that would block an upgrade to this tag (see baseBlockers).
	BlockedBy []Blocker `json:"blocked_by,omitempty"`
	// Moves are the plugins whose source follows the base and would move with it.
	Moves []Move `json:"moves,omitempty"`
}

// Move is a plugin whose source follows the base's version: what it names now and at the
// candidate base (a branch such as REL1_42 -> REL1_43).
type Move struct {
	Plugin string `json:"plugin"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// Blocker is a plugin that does not declare itself compatible with a base version.
type Blocker struct {
	Plugin string `json:"plugin"`
	Reason string `json:"reason"` // e.g. `[compat] base = ">=3.5, <4"`
}

// Current reports whether nothing newer was found.
func (b BaseOutdated) Current() bool { return !b.NotLocked && b.Digest == "" && len(b.NewerTags) == 0 }

// OutdatedBase compares the locked base with its registry (or layout): the digest the
// reference names now, and the version tags above the locked one.
func (p *Project) OutdatedBase(ctx context.Context, opts ...ResolveOption) (*BaseOutdated, error) {
	if err := p.needLock(); err != nil {
		return nil, err
	}
	o := &BaseOutdated{Ref: p.Site.Base, Locked: p.Lock.Base.Digest}
	if p.Lock.Base.Ref != p.Site.Base {
		o.NotLocked = true
		return o, nil
	}
	cfg := newResolveConfig(opts)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	digest, err := p.baseDigest(ctx, cfg)
	if err != nil {
		return nil, p.baseTimeout(ctx, cfg, err)
	}
	if digest != o.Locked {
		o.Digest = digest
	}
	ref, err := p.BaseRef()
	if err != nil {
		return nil, err
	}
	tag, newer, err := p.newerBaseTags(ctx, cfg, ref)
	if err != nil {
		return nil, p.baseTimeout(ctx, cfg, err)
	}
	o.Tag = tag
	for _, t := range newer {
		bt, err := p.baseTag(ctx, cfg, ref, t)
		if err != nil {
			return nil, p.baseTimeout(ctx, cfg, err)
		}
		o.NewerTags = append(o.NewerTags, bt)
	}
	return o, nil
}

// baseTag is what moving the base to tag means for the plugins (see PlanBase): those that would
// block it ([compat] excluding its version, a ref following it that does not exist yet) and
// those that would move with it. outdated and --bump base both ask here, so their view of an
// upgrade stays one. Without plugins needing the base's version, nothing is asked.
func (p *Project) baseTag(ctx context.Context, cfg *resolveConfig, ref imageref.Ref, tag string) (BaseTag, error) {
	bt := BaseTag{Tag: tag}
	if !p.NeedsBaseVersion() {
		return bt, nil
	}
	v, err := p.candidateVersion(ctx, cfg, ref, tag)
	if err != nil {
		return bt, err
	}
	bt.Version = v.Version
	plan, err := p.planBase(ctx, cfg, v)
	if err != nil {
		return bt, err
	}
	for _, u := range plan {
		switch {
		case u.Blocks:
			bt.BlockedBy = append(bt.BlockedBy, Blocker{Plugin: u.Plugin, Reason: u.Reason})
		case u.Moves:
			bt.Moves = append(bt.Moves, Move{Plugin: u.Plugin, From: u.OldRef, To: u.NewRef})
		}
	}
	return bt, nil
}

// baseTimeout says which limit ran out when the base's registry did not answer in time.
func (p *Project) baseTimeout(ctx context.Context, cfg *resolveConfig, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("base %s: no answer within %v; check the network, or raise --timeout", p.Site.Base, cfg.timeout)
	}
	return err
}

// needLock is the error for commands that need a readable graft.lock.
func (p *Project) needLock() error {
	if p.lockErr != nil {
		return p.lockErr
	}
	if p.Lock == nil {
		return usererr.New("%s: not found; run `graft lock` first", p.shownPath(LockFile))
	}
	return nil
}

// newerBaseTags lists the tags of the base's repository above the tag ref names. tag is that
// tag when it is a version ("" otherwise, and nothing is listed).
func (p *Project) newerBaseTags(ctx context.Context, cfg *resolveConfig, ref imageref.Ref) (tag string, newer []string, err error) {
	tag = ref.CurrentTag()
	if _, ok := parseBaseTag(tag); !ok {
		return "", nil, nil
	}
	tags, err := ref.Tags(ctx, cfg.image...)
	if errors.Is(err, imageref.ErrNoTags) {
		return tag, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s:%d: base: %w", p.shownPath(SiteFile), tomldecode.LineOf(p.siteData, "base"), err)
	}
	return tag, newerBaseTags(tags, tag), nil
}

// baseTag is an image tag read as a version, with what makes two tags comparable.
type baseTag struct {
	v      version
	prefix bool // written with a leading v
	parts  int  // how many numbers
}

// parseBaseTag reads an image tag as a version (see parseVersion); the text after "-" is a
// variant here (4.1.1-jdk17), not a pre-release.
func parseBaseTag(tag string) (baseTag, bool) {
	v, ok := parseVersion(tag)
	if !ok || strings.Contains(tag, "+") {
		return baseTag{}, false
	}
	return baseTag{v: v, prefix: tag[0] == 'v' || tag[0] == 'V', parts: len(v.nums)}, true
}

// newerBaseTags are the tags above cur, ascending, that are versions of cur's shape: the same
// "v" prefix or none, as many numbers, and the same suffix after "-" (the compatibility rule of
// Renovate's docker versioning). So 4.1.1 is offered 4.1.2 and 4.2.0, not the moving 4.2 or 4,
// nor 4.2.0-rc1 or 4.2.0-jdk11; 4.1.1-jdk17 is offered 4.2.0-jdk17.
func newerBaseTags(tags []string, cur string) []string {
	base, ok := parseBaseTag(cur)
	if !ok {
		return nil
	}
	return ascending(tags, func(name string) (version, bool) {
		t, ok := parseBaseTag(name)
		return t.v, ok && t.prefix == base.prefix && t.parts == base.parts && t.v.pre == base.v.pre && t.v.compare(base.v) > 0
	})
}

// BaseBump is the move of the base to its newest version tag (`graft lock --bump base`).
type BaseBump struct {
	OldRef    string `json:"old_ref"` // graft.toml's base before
	NewRef    string `json:"new_ref"` // after (the same when the base is at its newest tag)
	OldDigest string `json:"old_digest"`
	NewDigest string `json:"new_digest"` // what graft.lock pins after the bump
	// Skipped are newer tags passed over because plugins would block them (see baseBlockers).
	Skipped []BaseTag `json:"skipped,omitempty"`
}

// Moved reports whether the bump changes anything.
func (b *BaseBump) Moved() bool { return b.NewRef != b.OldRef || b.NewDigest != b.OldDigest }

// PlanBaseBump finds the newest version tag of the base (see newerBaseTags) that no plugin
// would block. It changes nothing; NewDigest is left for the resolution that follows.
func (p *Project) PlanBaseBump(ctx context.Context, opts ...ResolveOption) (*BaseBump, error) {
	if err := p.needLock(); err != nil {
		return nil, err
	}
	cfg := newResolveConfig(opts)
	b := &BaseBump{OldRef: p.Site.Base, NewRef: p.Site.Base, OldDigest: p.Lock.Base.Digest}
	ref, err := p.BaseRef()
	if err != nil {
		return nil, err
	}
	if tag := ref.CurrentTag(); tag == "" {
		return nil, p.siteErr("base", "base %q names no tag (a digest, or no tag at all): --bump cannot move it; write a version tag (e.g. :4.1.1) by hand, then --bump can", p.Site.Base)
	} else if _, ok := parseBaseTag(tag); !ok {
		return nil, p.siteErr("base", "base tag %q is not a version tag: --bump cannot tell what is newer; write a version tag (e.g. :4.1.1) by hand, then --bump can", tag)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	_, newer, err := p.newerBaseTags(ctx, cfg, ref)
	if err != nil {
		return nil, p.baseTimeout(ctx, cfg, err)
	}
	for i := len(newer) - 1; i >= 0; i-- {
		bt, err := p.baseTag(ctx, cfg, ref, newer[i])
		if err != nil {
			return nil, p.baseTimeout(ctx, cfg, err)
		}
		if len(bt.BlockedBy) > 0 {
			b.Skipped = append(b.Skipped, bt)
			continue
		}
		b.NewRef, _ = ref.WithTag(newer[i])
		break
	}
	return b, nil
}

// SetBase edits graft.toml in memory (see WriteSiteFile): base becomes ref, every other byte
// of the file stays as it is.
func (p *Project) SetBase(ref string) error {
	file := p.shownPath(SiteFile)
	data, err := EditString(file, p.siteData, "base", ref)
	if err != nil {
		return err
	}
	site, err := ParseSite(file, data)
	if err != nil {
		return err
	}
	if site.Base != ref {
		return fmt.Errorf("%s: edited base reads back as %q, not %q", file, site.Base, ref)
	}
	p.Site, p.siteData = site, data
	return nil
}

// SiteData is graft.toml as loaded (or as SetBase left it).
func (p *Project) SiteData() []byte { return p.siteData }

// siteErr is bad input at key of graft.toml (exit 2, names file, line and key); a key the file
// does not have (a default being used) points at base.
func (p *Project) siteErr(key, format string, args ...any) error {
	line := tomldecode.LineOf(p.siteData, key)
	if line == 0 {
		line = tomldecode.LineOf(p.siteData, "base")
	}
	return &tomldecode.Error{File: p.shownPath(SiteFile), Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}
