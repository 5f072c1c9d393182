// Package verify proves an image is exactly what a site's graft.lock builds: it rebuilds the
// image from a builder.Plan, taking from a cache only what it checks in full, and compares it
// with the image examined down to the bytes. Every blob verify relies on is hashed (the index and manifests against the
// digests that name them, the config against its descriptor, each layer's compressed bytes
// against its digest and its uncompressed bytes against the config's diff ID), and the
// manifest digest itself is compared, so nothing a descriptor claims is taken on trust. The
// Report names each difference in one line, saying what the layer should hold (LayerInfo.Kind:
// base, plugin, launcher, launcher configuration).
package verify

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/contract"
)

// Subject is the image examined, as its reader found it.
type Subject struct {
	Name string // as the user named it, for messages
	// Digest is the digest the image's place names it by (a registry's answer, a layout's
	// index.json): its manifest bytes are checked against it. Zero for a docker save tar.
	Digest v1.Hash
	Image  v1.Image      // a single image, or
	Index  v1.ImageIndex // an index of platforms
	// Manifestless says the place keeps no manifest (a docker save tar keeps the config and
	// the layers; the reader makes a Docker manifest up): the manifest digest cannot be compared.
	Manifestless bool
}

// Option configures Image.
type Option func(*options)

type options struct {
	build []builder.Option
	steps contract.StepRunner
}

// WithBuildOptions are how the image is rebuilt: launchers, the git cache, progress. A build
// cache (builder.WithBuildCache) must check every entry in full (buildcache.CheckAll) and import
// nothing: verify would otherwise compare the image with what a cache claims instead of what
// the lock builds.
func WithBuildOptions(opts ...builder.Option) Option {
	return func(o *options) { o.build = append(o.build, opts...) }
}

// WithStepRunner recomputes the layers of plugins with [build] steps (BuildKit). Without one,
// those layers are reported as not recomputed.
func WithStepRunner(r contract.StepRunner) Option { return func(o *options) { o.steps = r } }

// Image rebuilds what plan builds for the platforms of subj and compares it with subj.
// An error means the comparison could not be made (the lock, the base or the image cannot be
// read); what differs is in the report.
func Image(ctx context.Context, plan *builder.Plan, subj Subject, opts ...Option) (*Report, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	ex, err := examine(subj, plan.Platforms())
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", subj.Name, err)
	}
	r := &Report{Image: subj.Name, Digest: ex.digest, Manifestless: subj.Manifestless}
	if ex.unlocked != "" {
		// Built from working folders: nothing to compare it with.
		r.Differences = []Difference{{Text: fmt.Sprintf("%s was built with --override %s: it holds working folders, not what %s pins; build it without --override",
			subj.Name, ex.unlocked, lockName)}}
		return r, nil
	}
	plan, missing := narrow(plan, ex.platformNames())
	r.Differences = missing
	if len(ex.platformNames()) == len(missing) {
		return r, nil // no platform of the image is one the lock can build
	}
	built, cmp, err := o.compare(ctx, plan, ex)
	if err != nil {
		return nil, err
	}
	// An image built with SOURCE_DATE_EPOCH has that time everywhere: when the image's time is
	// not the one the commits give, try it, and keep it if it explains the image completely.
	if _, fixed := plan.Epoch(); len(cmp.diffs) > 0 && !fixed && !ex.created.IsZero() && !built.Created.Equal(ex.created) {
		again, cmp2, err := o.compare(ctx, plan.WithEpoch(ex.created), ex)
		if err == nil && len(cmp2.diffs) == 0 {
			built, cmp = again, cmp2
		}
	}
	r.Built = built.Digest
	r.Differences = append(r.Differences, cmp.diffs...)
	r.NotRecomputed = cmp.notes
	r.Base = cmp.base
	return r, nil
}

// narrow is the plan for the image's platforms; platforms the base does not have are
// differences.
func narrow(plan *builder.Plan, names []string) (*builder.Plan, []Difference) {
	if p, err := plan.WithPlatforms(names...); err == nil {
		return p, nil
	}
	var ok []string
	var diffs []Difference
	for _, n := range names {
		if _, err := plan.WithPlatforms(n); err != nil {
			diffs = append(diffs, Difference{Platform: n, Text: "the lock builds no image for it: " + err.Error()})
			continue
		}
		ok = append(ok, n)
	}
	if len(ok) == 0 {
		return plan, diffs
	}
	p, _ := plan.WithPlatforms(ok...)
	return p, diffs
}

// compare rebuilds the plan and compares the result with the examined image.
func (o *options) compare(ctx context.Context, plan *builder.Plan, ex *examined) (*contract.Result, *comparison, error) {
	steps := o.steps
	skip := &skipSteps{plugins: map[string]bool{}}
	if steps == nil {
		steps = skip
	}
	built, err := plan.Build(ctx, append(o.build, builder.WithStepRunner(steps))...)
	if err != nil {
		return nil, nil, err
	}
	c := &comparison{plan: plan, built: built, skipped: skip.plugins}
	if err := c.run(ex); err != nil {
		return nil, nil, err
	}
	return built, c, nil
}

// skipSteps stands in for BuildKit: it records the plugin and returns an empty placeholder, so
// every other layer can still be recomputed and compared.
type skipSteps struct {
	mu      sync.Mutex
	plugins map[string]bool
}

func (s *skipSteps) RunSteps(_ context.Context, r contract.StepRequest) (v1.Layer, error) {
	s.mu.Lock()
	s.plugins[r.Plugin] = true
	s.mu.Unlock()
	return static.NewLayer(nil, r.MediaType), nil
}

// createdOf is the image's org.opencontainers.image.created label (zero when absent), and an
// error when graft did not build it.
func createdOf(cf *v1.ConfigFile) (time.Time, error) {
	if _, ok := cf.Config.Labels[contract.LabelPlugins]; !ok {
		return time.Time{}, fmt.Errorf("it was not built by graft: it has no %s label", contract.LabelPlugins)
	}
	t, err := time.Parse(time.RFC3339, cf.Config.Labels[contract.LabelCreated])
	if err != nil {
		return time.Time{}, nil
	}
	return t, nil
}
