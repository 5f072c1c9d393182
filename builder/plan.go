package builder

import (
	"context"
	"time"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/artifact"
)

// Plan is a build resolved before any layer is made, as BuildKit's LLB is a value before it is
// solved: the base pinned by its locked digest and read (manifests and configs checked against
// their digests), the platforms to build, where each plugin's files come from, the merged
// launcher configuration and SOURCE_DATE_EPOCH. `graft build` and `graft verify` both resolve
// once and build from the plan; verify narrows it to the platforms of the image it examines.
// A Plan is not changed by building it: WithPlatforms and WithEpoch return new plans.
type Plan struct {
	project *lockfile.Project
	base    *baseImage
	plats   []*basePlatform // selected, in build order
	created time.Time       // newest Created among plats
	sources []source
	conf    *config.Config
	epoch   *time.Time        // SOURCE_DATE_EPOCH; nil: derived from commits
	resolve []imageref.Option // how registries are reached: the base's, an oci plugin's
}

// source is where one locked plugin's files come from: exactly one of git, local, artifact
// and override is set.
type source struct {
	lock     lockfile.PluginLock
	def      *lockfile.Plugin
	dir      string            // plugins_dir/<name> in the image, or its [install] dest
	git      *fetch.Source     // a commit of a git repository
	local    *fetch.Local      // a folder of the site repository
	artifact *artifact.Request // a url, maven or oci plugin, pinned
	override *Override         // a working folder (--override): not what the lock pins
}

// Resolve plans the build of p's lock: it refuses a stale lock and a base [compat] refuses,
// merges the launcher configuration, reads the base by its locked digest and selects the
// platforms (WithPlatforms, else graft.toml's, else all of the base's). Only WithPlatforms,
// WithSourceDateEpoch, WithOverrides and WithResolveOptions matter here; the rest are Build's.
func Resolve(ctx context.Context, p *lockfile.Project, opts ...Option) (*Plan, error) {
	return resolve(ctx, p, newOptions(opts))
}

func resolve(ctx context.Context, p *lockfile.Project, o *options) (*Plan, error) {
	if err := p.CheckFresh(); err != nil {
		return nil, err
	}
	if err := p.CheckCompat(); err != nil {
		return nil, err
	}
	if err := o.checkOverrides(p); err != nil {
		return nil, err
	}
	conf, err := MergeLauncherConfig(p)
	if err != nil {
		return nil, err
	}
	sources, err := planSources(p, o.overrides)
	if err != nil {
		return nil, err
	}
	base, err := resolveBase(ctx, p, o.resolve)
	if err != nil {
		return nil, err
	}
	pl := &Plan{project: p, base: base, sources: sources, conf: conf, epoch: o.epoch, resolve: o.resolve}
	wanted := o.platforms
	if len(wanted) == 0 {
		wanted = p.Site.Platforms
	}
	if err := pl.selectPlatforms(wanted); err != nil {
		return nil, err
	}
	return pl, nil
}

// planSources says where each locked plugin's files come from (overrides: plugin -> working
// folder or file).
func planSources(p *lockfile.Project, overrides map[string]string) ([]source, error) {
	out := make([]source, 0, len(p.Lock.Plugins))
	for _, pk := range p.Lock.Plugins {
		def := p.Plugin(pk.Name)
		if def == nil {
			return nil, usererr.New("graft.lock: plugin %s has no plugins/%s/plugin.toml; run `graft lock`", pk.Name, pk.Name)
		}
		src := source{lock: pk, def: def, dir: p.Target(pk)}
		switch path, overridden := overrides[pk.Name]; {
		case overridden:
			src.override = &Override{Name: pk.Name, Path: path}
		case def.Source.Local != "":
			abs, shown := p.LocalDir(*def)
			src.local = &fetch.Local{Name: pk.Name, Site: p.Dir, Dir: abs, Shown: shown, Tree: pk.Tree}
		case pk.IsArtifact():
			req, err := p.ArtifactRequest(*def, pk)
			if err != nil {
				return nil, err
			}
			src.artifact = &req
		default:
			src.git = &fetch.Source{Name: pk.Name, URL: p.SourceURL(*def), Ref: pk.Ref, Commit: pk.Commit, Path: pk.Path, Tree: pk.Tree}
		}
		out = append(out, src)
	}
	return out, nil
}

// reader is how the plugin's files are read in a build with options o.
func (src *source) reader(o *options, resolve []imageref.Option) fetch.Reader {
	switch {
	case src.override != nil:
		return *src.override
	case src.local != nil:
		return *src.local
	case src.artifact != nil:
		return fetch.Artifact{Store: o.artifactStore(resolve), Request: *src.artifact}
	}
	return fetch.Git{Cache: o.cache, Source: *src.git}
}

// selectPlatforms picks the base's images for the wanted platforms (all when none wanted).
func (pl *Plan) selectPlatforms(wanted []string) error {
	plats, err := pl.base.match(wanted)
	if err != nil {
		return err
	}
	pl.plats, pl.created = plats, time.Time{}
	for _, bp := range plats {
		if c := bp.config.Created.Time; c.After(pl.created) {
			pl.created = c.UTC()
		}
	}
	return nil
}

// Project is the site the plan builds.
func (pl *Plan) Project() *lockfile.Project { return pl.project }

// Platforms are the platforms the plan builds, os/arch[/variant], in build order.
func (pl *Plan) Platforms() []string {
	out := make([]string, len(pl.plats))
	for i, bp := range pl.plats {
		out[i] = bp.name()
	}
	return out
}

// Epoch is SOURCE_DATE_EPOCH when the plan has one.
func (pl *Plan) Epoch() (time.Time, bool) {
	if pl.epoch == nil {
		return time.Time{}, false
	}
	return *pl.epoch, true
}

// HasSteps says whether a plugin has [build] run steps (which need a StepRunner).
func (pl *Plan) HasSteps() bool {
	for _, src := range pl.sources {
		if len(src.def.Build.Run) > 0 {
			return true
		}
	}
	return false
}

// WithPlatforms is the plan for other platforms of the same base (all of them when none given).
func (pl *Plan) WithPlatforms(platforms ...string) (*Plan, error) {
	cp := *pl
	if err := cp.selectPlatforms(platforms); err != nil {
		return nil, err
	}
	return &cp, nil
}

// WithEpoch is the plan with every timestamp fixed at t, as SOURCE_DATE_EPOCH does.
func (pl *Plan) WithEpoch(t time.Time) *Plan {
	cp := *pl
	t = t.UTC().Truncate(time.Second)
	cp.epoch = &t
	return &cp
}

// stepsOf is a plugin's [build] table as a StepRunner receives it.
func stepsOf(def *lockfile.Plugin) contract.Steps {
	b := def.Build
	s := contract.Steps{Run: b.Run, Env: b.Env}
	for _, sec := range b.Secrets {
		s.Secrets = append(s.Secrets, contract.Secret{ID: sec.ID, Env: sec.Env, File: sec.File})
	}
	return s
}
