package lockfile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	gittransport "github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/sync/errgroup"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/tomldecode"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/artifact"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// DefaultJobs is how many repositories are contacted at once. Each costs about one round trip
// to list refs and one to fetch a commit, so wall time is bounded by the slowest few.
const DefaultJobs = 64

// ResolveOption configures Resolve, Check and Outdated.
type ResolveOption func(*resolveConfig)

type resolveConfig struct {
	jobs    int
	timeout time.Duration
	update  []string
	git     []gitremote.Option
	image   []imageref.Option
	updates bool
	// artifacts fetches url, maven and oci sources (see WithArtifactStore).
	artifacts *artifact.Store
}

// WithJobs bounds how many repositories are contacted in parallel (default DefaultJobs).
func WithJobs(n int) ResolveOption {
	return func(c *resolveConfig) {
		if n > 0 {
			c.jobs = n
		}
	}
}

// DefaultTimeout bounds the time spent on one repository (listing and fetching).
const DefaultTimeout = 2 * time.Minute

// WithTimeout bounds the time spent on each repository, so a server that accepts connections
// but never answers fails the run with a message instead of hanging CI.
func WithTimeout(d time.Duration) ResolveOption {
	return func(c *resolveConfig) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithUpdate re-resolves only the named plugins (and the base image when one name is
// BaseName); the others keep their locked commit (unless their definition changed or they are
// new, which forces resolution) and the base its locked digest. Unknown names are bad input.
func WithUpdate(names ...string) ResolveOption {
	return func(c *resolveConfig) { c.update, c.updates = append(c.update, names...), true }
}

// WithGitOptions passes options to every gitremote.Open (credentials, environment).
func WithGitOptions(opts ...gitremote.Option) ResolveOption {
	return func(c *resolveConfig) { c.git = append(c.git, opts...) }
}

// WithImageOptions passes options to the base image resolution (registry transport, auth).
func WithImageOptions(opts ...imageref.Option) ResolveOption {
	return func(c *resolveConfig) { c.image = append(c.image, opts...) }
}

func newResolveConfig(opts []ResolveOption) *resolveConfig {
	c := &resolveConfig{jobs: DefaultJobs, timeout: DefaultTimeout}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Resolve pins every plugin to a commit and the base to a digest, returning the new lock.
// It writes nothing; errors from several plugins are joined, one line each, sorted by plugin.
func (p *Project) Resolve(ctx context.Context, opts ...ResolveOption) (*Lock, error) {
	cfg := newResolveConfig(opts)
	if cfg.updates && p.lockErr != nil {
		return nil, p.lockErr // --update keeps locked commits: it needs a readable lock
	}
	if err := p.checkNames(cfg.update); err != nil {
		return nil, err
	}
	lock := &Lock{Version: LockVersion, Definitions: p.DefinitionsDigest(), Plugins: make([]PluginLock, len(p.Plugins)), Contract: p.Contract()}
	errs := make([]error, len(p.Plugins)+1)
	// Plugins following the base's version need it before they can be resolved.
	var baseVersion *AppVersion
	if p.NeedsBaseVersion() {
		if err := p.resolveBase(ctx, cfg, &lock.Base); err != nil {
			return nil, err
		}
		v, err := ParseAppVersion(lock.Base.Version)
		if err != nil {
			return nil, err
		}
		baseVersion = &v
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.jobs)
	if baseVersion == nil {
		g.Go(func() error {
			errs[0] = p.resolveBase(gctx, cfg, &lock.Base)
			return nil
		})
	}
	store, done, err := cfg.store()
	if err != nil {
		return nil, err
	}
	defer done()
	cfg.artifacts = store
	for i, pl := range p.Plugins {
		if old := p.keep(cfg, pl, baseVersion); old != nil {
			lock.Plugins[i] = *old
			continue
		}
		g.Go(func() error {
			var pk *PluginLock
			err := p.bounded(gctx, cfg, pl, func(ctx context.Context) (err error) {
				pk, err = p.resolvePlugin(ctx, cfg, pl, baseVersion)
				return err
			})
			if err == nil {
				lock.Plugins[i] = *pk
			}
			errs[i+1] = err
			return nil
		})
	}
	_ = g.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := p.checkResolved(ctx, cfg, lock, baseVersion); err != nil {
		return nil, err
	}
	return lock, nil
}

// checkResolved refuses a lock whose plugins do not fit its base: a [compat] range excluding the
// base's version, two plugins writing one path, a plugin replacing the base's files unasked.
func (p *Project) checkResolved(ctx context.Context, cfg *resolveConfig, lock *Lock, v *AppVersion) error {
	var errs tomldecode.Errors
	if v != nil {
		for _, pl := range p.Plugins {
			if e, ok := p.CompatErr(pl, *v).(*tomldecode.Error); ok {
				errs = append(errs, e)
			}
		}
	}
	if err := errs.Err(); err != nil {
		return err
	}
	base := func() (v1.Image, error) {
		ref, err := p.BaseRef()
		if err != nil {
			return nil, err
		}
		res, err := ref.Pinned(lock.Base.Digest).Resolve(ctx, cfg.image...)
		if err != nil {
			return nil, err
		}
		return firstImage(res)
	}
	return p.checkTargets(ctx, lock, base, cfg.artifacts.Dir())
}

// checkNames rejects --update names that are not plugins (or the base).
func (p *Project) checkNames(names []string) error {
	var unknown []string
	for _, n := range names {
		if p.Plugin(n) == nil && n != BaseName {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	known := make([]string, len(p.Plugins))
	for i, pl := range p.Plugins {
		known[i] = pl.Name
	}
	return usererr.New("unknown plugin %s: there is no %s; plugins are: %s (and %s, the base image)",
		strings.Join(unknown, ", "), filepath.Join(PluginsDir, unknown[0], PluginFile), strings.Join(known, ", "), BaseName)
}

// keep returns the locked entry to reuse under --update, or nil when pl must be resolved.
func (p *Project) keep(cfg *resolveConfig, pl Plugin, v *AppVersion) *PluginLock {
	// A local folder is read again every time: it costs no network, and a kept hash of a
	// changed folder would only make the lock stale.
	if !cfg.updates || slices.Contains(cfg.update, pl.Name) || pl.Source.Local != "" {
		return nil
	}
	old := p.PluginLock(pl.Name)
	if old == nil || old.Definition != p.PluginDigest(pl.Name) {
		return nil
	}
	src, err := p.RenderSource(pl, v)
	if err != nil || len(p.mismatches(pl, src, *old)) > 0 {
		return nil // an entry plugin.toml contradicts (see Mismatches), or a moved base, is resolved afresh
	}
	return old
}

func (p *Project) resolveBase(ctx context.Context, cfg *resolveConfig, out *BaseLock) error {
	if cfg.updates && !slices.Contains(cfg.update, BaseName) && p.Lock != nil && p.Lock.Base.Ref == p.Site.Base && p.Lock.Base.Digest != "" &&
		(p.Lock.Base.Version != "" || !p.NeedsBaseVersion()) {
		*out = p.Lock.Base
		return nil
	}
	ref, res, err := p.resolveBaseRef(ctx, cfg)
	if err != nil {
		return err
	}
	*out = BaseLock{Ref: p.Site.Base, Digest: res.Digest.String()}
	if p.NeedsBaseVersion() {
		out.Version, err = p.ReadBaseVersion(ref, res)
	}
	return err
}

func (p *Project) baseDigest(ctx context.Context, cfg *resolveConfig) (string, error) {
	_, res, err := p.resolveBaseRef(ctx, cfg)
	if err != nil {
		return "", err
	}
	return res.Digest.String(), nil
}

// resolveBaseRef resolves graft.toml's base: a name that names nothing is bad input at its line.
func (p *Project) resolveBaseRef(ctx context.Context, cfg *resolveConfig) (imageref.Ref, *imageref.Resolved, error) {
	ref, err := p.baseRef()
	if err != nil && !errors.Is(err, imageref.ErrNotFound) {
		return ref, nil, fmt.Errorf("%s: base: %w", p.shownPath(SiteFile), err)
	}
	var res *imageref.Resolved
	if err == nil {
		res, err = ref.Resolve(ctx, cfg.image...)
	}
	if err == nil {
		return ref, res, nil
	}
	if errors.Is(err, imageref.ErrNotFound) {
		// The reference names nothing: bad input at graft.toml's base (exit 2), not an outage.
		return ref, nil, &tomldecode.Error{File: p.shownPath(SiteFile), Line: tomldecode.LineOf(p.siteData, "base"), Key: "base",
			Msg: fmt.Sprintf("%v; fix base or put the image there", err)}
	}
	return ref, nil, fmt.Errorf("%s:%d: base: %w", p.shownPath(SiteFile), tomldecode.LineOf(p.siteData, "base"), err)
}

// resolvePlugin pins pl: a git source to the commit its ref names (listing its repository and
// fetching that one commit for its title and the tree of source.path), a local folder to its
// tree, a url, maven or oci source to its content. v is the base's version for sources that
// follow it.
func (p *Project) resolvePlugin(ctx context.Context, cfg *resolveConfig, pl Plugin, v *AppVersion) (*PluginLock, error) {
	src, err := p.RenderSource(pl, v)
	if err != nil {
		return nil, err
	}
	switch src.Type() {
	case TypeLocal:
		return p.resolveLocal(pl)
	case TypeURL, TypeMaven, TypeOCI:
		return p.resolveArtifact(ctx, cfg, pl, src)
	}
	r, err := p.open(ctx, cfg, pl)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	kind, commit, err := p.pick(r, pl, src.Ref)
	if err != nil {
		return nil, err
	}
	if old := p.PluginLock(pl.Name); old != nil && kind != KindCommit && old.Commit == commit &&
		old.Path == pl.Source.Path && old.Tree != "" && !pl.InstallsFile() {
		// Same commit as locked, proven to exist by the listing: title and tree are functions
		// of the commit and path, so re-locking an unchanged plugin costs one round trip. (A
		// plugin installed as one file is fetched: its file's name makes its dest.)
		return p.entry(pl, src.Ref, kind, commit, old.Title, old.Tree, pl.Install.Dest, r.TagsAt(commit)), nil
	}
	c, err := r.Fetch(ctx, commit, pl.Source.Path)
	if errors.Is(err, gitremote.ErrPathNotFound) {
		return nil, p.pluginErr(pl, "source.path", "plugin %s: %v; give a folder that exists at ref %s",
			pl.Name, err, src.Ref)
	}
	if err != nil {
		return nil, fmt.Errorf("plugin %s (ref %s): %w", pl.Name, src.Ref, err)
	}
	var top []topEntry
	for _, e := range c.Top {
		top = append(top, topEntry{e.Name, e.File})
	}
	dest, err := p.installDest(pl, top)
	if err != nil {
		return nil, err
	}
	return p.entry(pl, src.Ref, kind, commit, c.Title, c.Tree, dest, r.TagsAt(commit)), nil
}

// resolveLocal pins a local plugin to its folder's tree hash, read from the working tree.
func (p *Project) resolveLocal(pl Plugin) (*PluginLock, error) {
	t, err := p.ReadLocal(pl)
	if err != nil {
		return nil, err
	}
	var top []topEntry
	for _, f := range t.Files {
		if !strings.Contains(f.Path, "/") {
			top = append(top, topEntry{f.Path, f.Mode == filemode.Regular || f.Mode == filemode.Executable})
		}
	}
	dest, err := p.installDest(pl, top)
	if err != nil {
		return nil, err
	}
	return &PluginLock{Name: pl.Name, Kind: KindLocal, Local: pl.Source.Local, Tree: t.Hash, Dest: dest, Definition: p.PluginDigest(pl.Name)}, nil
}

func (p *Project) entry(pl Plugin, ref, kind, commit, title, tree, dest string, tags []string) *PluginLock {
	return &PluginLock{
		Name: pl.Name, Git: pl.Source.Git, Ref: ref, Kind: kind, Commit: commit,
		Title: title, Tags: tags, Path: pl.Source.Path, Tree: tree, Dest: dest, Definition: p.PluginDigest(pl.Name),
	}
}

func (p *Project) open(ctx context.Context, cfg *resolveConfig, pl Plugin) (*gitremote.Remote, error) {
	r, err := gitremote.Open(ctx, p.SourceURL(pl), cfg.git...)
	switch {
	case errors.Is(err, gittransport.ErrRepositoryNotFound) || errors.Is(err, gittransport.ErrEmptyRemoteRepository):
		// The URL names no (usable) repository: bad input at source.git (exit 2), not an outage.
		return nil, p.pluginErr(pl, "source.git", "plugin %s: %v; fix git (or give credentials that can see it)", pl.Name, err)
	case err != nil:
		return nil, fmt.Errorf("plugin %s (ref %s): %w", pl.Name, pl.Source.Ref, err)
	}
	return r, nil
}

// pick finds what ref (pl's, rendered) names. Like git, a tag wins over a branch of the same name.
func (p *Project) pick(r *gitremote.Remote, pl Plugin, ref string) (kind, commit string, err error) {
	kind, commit, ok := Lookup(r, ref)
	if !ok {
		follows := ""
		if ref != pl.Source.Ref {
			follows = fmt.Sprintf(" (ref %q for the base's version)", pl.Source.Ref)
		}
		return "", "", p.pluginErr(pl, "source.ref", "plugin %s: no branch or tag %q%s in %s; give an existing branch, tag or full 40-character commit SHA",
			pl.Name, ref, follows, r.URL())
	}
	return kind, commit, nil
}

// Lookup resolves ref against a listing: a full SHA is taken as is; "refs/..." is exact;
// otherwise refs/tags/<ref>, then refs/heads/<ref>. The commit of an annotated tag is peeled.
func Lookup(r *gitremote.Remote, ref string) (kind, commit string, ok bool) {
	if fullSHARE.MatchString(ref) {
		return KindCommit, ref, true
	}
	for _, c := range refCandidates(ref, "") {
		if x, found := r.Ref(c.name); found {
			return c.kind, x.Commit, true
		}
	}
	return "", "", false
}

type candidate struct{ name, kind string }

// refCandidates lists the full ref names ref may mean; kind narrows them to what was locked.
func refCandidates(ref, kind string) []candidate {
	var out []candidate
	switch {
	case strings.HasPrefix(ref, "refs/tags/"):
		out = []candidate{{ref, KindTag}}
	case strings.HasPrefix(ref, "refs/"):
		out = []candidate{{ref, KindBranch}}
	case ref == "HEAD":
		out = []candidate{{ref, KindBranch}}
	default:
		out = []candidate{{"refs/tags/" + ref, KindTag}, {"refs/heads/" + ref, KindBranch}}
	}
	if kind == "" {
		return out
	}
	var only []candidate
	for _, c := range out {
		if c.kind == kind {
			only = append(only, c)
		}
	}
	return only
}

// pluginErr is bad input at a key of pl's plugin.toml (exit 2, names file, line and key).
func (p *Project) pluginErr(pl Plugin, key, format string, args ...any) error {
	data := p.pluginData[pl.Name]
	line := tomldecode.LineOf(data, key)
	if line == 0 {
		line = tomldecode.LineOf(data, "source")
	}
	return &tomldecode.Error{File: p.pluginFile(pl.Name), Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (p *Project) pluginFile(name string) string {
	return p.shownPath(filepath.Join(PluginsDir, name, PluginFile))
}

// bounded runs fn for pl under the per-repository timeout and says so when it ran out.
func (p *Project) bounded(ctx context.Context, cfg *resolveConfig, pl Plugin, fn func(context.Context) error) error {
	tctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	err := fn(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("plugin %s (ref %s): %s: no answer within %v; check the network or mirror, or raise --timeout",
			pl.Name, pl.Source.Ref, gitremote.Redact(p.SourceURL(pl)), cfg.timeout)
	}
	return err
}

// forEach runs fn for every index with at most jobs at once and joins the errors in index order.
func forEach(ctx context.Context, jobs, n int, fn func(ctx context.Context, i int) error) error {
	errs := make([]error, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(jobs)
	for i := range n {
		g.Go(func() error {
			errs[i] = fn(gctx, i)
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// sortedNames lists plugin names of a lock, sorted.
func sortedNames(l *Lock) []string {
	var out []string
	for _, pk := range l.Plugins {
		out = append(out, pk.Name)
	}
	sort.Strings(out)
	return out
}
