package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/lockfile"
)

func newVerifyCmd(g *globalOpts) *cobra.Command {
	o := &buildOpts{progress: "quiet"}
	var key string
	cmd := &cobra.Command{
		Use:   "verify IMAGE [-C SITE] [--buildkit ADDR]",
		Short: "Check that IMAGE is exactly what the site's graft.lock builds",
		Long: `verify recomputes every layer graft adds (one per plugin, the launcher and its
configuration) from the site's graft.lock, without publishing anything, and compares them and
graft's labels with IMAGE's. Exit 0 when they are identical, 1 naming each differing layer and label and what it
should hold. Plugins with [build] steps need BuildKit (--buildkit or BUILDKIT_HOST) to be
recomputed; without it their layers are named as not verified and the exit is 1.
Set SOURCE_DATE_EPOCH as the build did; an image built with it is also recognised by its
created time. With --key PUB, IMAGE must also be signed by that key (graft build --sign-key or
cosign sign) and its SBOM and provenance attestations signed by it, or the exit is 1. ` + imageFormsHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runVerify(cmd.Context(), g, o, args[0], key) },
	}
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "also check IMAGE's signature and attestations with this public key (cosign's .pub), as cosign verify --key does")
	f.StringVar(&o.buildkit, "buildkit", "", "BuildKit address to recompute plugins with build steps (default $"+EnvBuildkitHost+")")
	f.StringVar(&o.tlsCA, "tlscacert", "", "CA certificate of a tcp:// BuildKit daemon (PEM)")
	f.StringVar(&o.tlsCert, "tlscert", "", "client certificate for a tcp:// BuildKit daemon (PEM)")
	f.StringVar(&o.tlsKey, "tlskey", "", "client key for a tcp:// BuildKit daemon (PEM)")
	return cmd
}

// skipSteps stands in for BuildKit: it records the plugin and returns an empty placeholder, so
// every other layer can still be recomputed and compared.
type skipSteps struct {
	mu      sync.Mutex
	plugins map[string]bool
}

func (s *skipSteps) RunSteps(_ context.Context, r builder.StepRequest) (v1.Layer, error) {
	s.mu.Lock()
	s.plugins[r.Lock.Name] = true
	s.mu.Unlock()
	return static.NewLayer(nil, types.MediaType(r.MediaType)), nil
}

// verifyPlatform is one image of IMAGE with its platform.
type verifyPlatform struct {
	name string
	img  v1.Image
}

func runVerify(ctx context.Context, g *globalOpts, o *buildOpts, arg, key string) error {
	p, err := lockfile.Load(g.dir)
	if err != nil {
		return err
	}
	if err := p.CheckFresh(); err != nil {
		return err
	}
	ref, res, err := resolveImage(ctx, arg)
	if err != nil {
		return err
	}
	signed := true
	if key != "" {
		if signed, err = verifySignatures(ctx, g, ref, res, key); err != nil {
			return err
		}
	}
	plats, err := imagePlatforms(res.Image, res.Index)
	if err != nil {
		return fmt.Errorf("image %s: %w", arg, err)
	}
	created, err := verifyCreated(plats[0].img)
	if err != nil {
		return fmt.Errorf("image %s: %w", arg, err)
	}
	if names := unlockedLabel(plats[0].img); names != "" {
		fmt.Fprintf(g.stdout, "%s was built with --override %s: it holds working folders, not what %s pins; build it without --override\n",
			arg, names, lockfile.LockFile)
		return errCheckFailed
	}
	built, diffs, notes, err := verifyOnce(ctx, g, p, o, plats, res.Index != nil, nil)
	if err != nil {
		return err
	}
	// An image built with SOURCE_DATE_EPOCH has that time everywhere: when the image's time is
	// not the one the commits give, try it, and keep it if it explains the image completely.
	if len(diffs) > 0 && os.Getenv("SOURCE_DATE_EPOCH") == "" && !created.IsZero() && !built.Created.Equal(created) {
		again, d2, n2, err := verifyOnce(ctx, g, p, o, plats, res.Index != nil, &created)
		if err == nil && len(d2) == 0 {
			built, diffs, notes = again, d2, n2
		}
	}
	for _, n := range notes {
		fmt.Fprintln(g.stdout, n)
	}
	for _, d := range diffs {
		fmt.Fprintln(g.stdout, d)
	}
	if len(diffs) > 0 || len(notes) > 0 {
		fmt.Fprintf(g.stdout, "%s is not verified against %s: %d difference(s), %d layer(s) not recomputed\n",
			arg, lockfile.LockFile, len(diffs), len(notes))
		return errCheckFailed
	}
	if !signed {
		fmt.Fprintf(g.stdout, "%s is what %s builds, but its signatures do not verify with %s\n", arg, lockfile.LockFile, key)
		return errCheckFailed
	}
	fmt.Fprintf(g.stdout, "%s is exactly what %s builds (%s)\n", arg, lockfile.LockFile, built.Digest)
	return nil
}

// verifyOnce recomputes the image (with epoch as SOURCE_DATE_EPOCH when given) and compares
// every platform.
func verifyOnce(ctx context.Context, g *globalOpts, p *lockfile.Project, o *buildOpts, plats []verifyPlatform, index bool, epoch *time.Time) (*builder.Result, []string, []string, error) {
	built, skipped, err := rebuild(ctx, g, p, o, plats, index, epoch)
	if err != nil {
		return nil, nil, nil, err
	}
	var diffs, notes []string
	for _, pl := range plats {
		want, err := builtImage(built, pl.name)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("platform %s: %v", pl.name, err))
			continue
		}
		d, n, err := compareImage(pl, want, built, p, skipped)
		if err != nil {
			return nil, nil, nil, err
		}
		diffs, notes = append(diffs, d...), append(notes, n...)
	}
	return built, diffs, notes, nil
}

// imagePlatforms are the images of IMAGE with their os/arch[/variant].
func imagePlatforms(img v1.Image, idx v1.ImageIndex) ([]verifyPlatform, error) {
	if idx == nil {
		name, err := platformOf(img)
		return []verifyPlatform{{name, img}}, err
	}
	var out []verifyPlatform
	err := eachIndexImage(idx, func(_ v1.Descriptor, img v1.Image) error {
		name, err := platformOf(img)
		out = append(out, verifyPlatform{name, img})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the index holds no image")
	}
	return out, nil
}

func platformOf(img v1.Image) (string, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	name := cf.OS + "/" + cf.Architecture
	if cf.Variant != "" {
		name += "/" + cf.Variant
	}
	return name, nil
}

// unlockedLabel is the image's org.graft.unlocked label: the plugins built with --override.
func unlockedLabel(img v1.Image) string {
	cf, err := img.ConfigFile()
	if err != nil {
		return ""
	}
	return cf.Config.Labels[builder.LabelUnlocked]
}

// verifyCreated is the image's org.opencontainers.image.created label (zero when absent).
func verifyCreated(img v1.Image) (time.Time, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return time.Time{}, err
	}
	if _, ok := cf.Config.Labels[builder.LabelPlugins]; !ok {
		return time.Time{}, fmt.Errorf("it was not built by graft: it has no %s label", builder.LabelPlugins)
	}
	t, err := time.Parse(time.RFC3339, cf.Config.Labels[builder.LabelCreated])
	if err != nil {
		return time.Time{}, nil
	}
	return t, nil
}

// rebuild recomputes the image from the lock with the builder (no output is written).
func rebuild(ctx context.Context, g *globalOpts, p *lockfile.Project, o *buildOpts, plats []verifyPlatform, index bool, epoch *time.Time) (*builder.Result, map[string]bool, error) {
	cacheDir, err := builder.DefaultCacheDir()
	if err != nil {
		return nil, nil, err
	}
	// Every layer the local cache supplies is read and checked in full, its blob compressed
	// again: verify never takes a cache's word for what the lock builds.
	cache := buildcache.New(localCache(cacheDir, buildcache.CheckAll, io.Discard))
	opts, closeEngine, err := builderOptions(ctx, g, p, o, cache, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	defer closeEngine()
	if index {
		names := make([]string, len(plats))
		for i, pl := range plats {
			names[i] = pl.name
		}
		opts = append(opts, builder.WithPlatforms(names...))
	}
	if epoch != nil {
		opts = append(opts, builder.WithSourceDateEpoch(*epoch))
	}
	skip := &skipSteps{plugins: map[string]bool{}}
	if buildkitAddr(o) == "" || !hasSteps(p) {
		opts = append(opts, builder.WithStepRunner(skip))
	}
	res, err := builder.Build(ctx, p, opts...)
	if err != nil {
		return nil, nil, err
	}
	return res, skip.plugins, nil
}

// builtImage is the recomputed image of platform name.
func builtImage(res *builder.Result, name string) (v1.Image, error) {
	if res.Index == nil {
		return res.Image, nil
	}
	m, err := res.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		n := d.Platform.OS + "/" + d.Platform.Architecture
		if d.Platform.Variant != "" {
			n += "/" + d.Platform.Variant
		}
		if n == name {
			return res.Index.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("the lock builds no image for it (platforms %s)", strings.Join(res.Platforms, ", "))
}

// compareImage lists the differences between the image and the recomputed one, and the
// layers that could not be recomputed.
func compareImage(pl verifyPlatform, want v1.Image, res *builder.Result, p *lockfile.Project, skipped map[string]bool) (diffs, notes []string, err error) {
	have, err := digests(pl.img)
	if err != nil {
		return nil, nil, err
	}
	should, err := digests(want)
	if err != nil {
		return nil, nil, err
	}
	base := len(should) - len(p.Lock.Plugins) - 2
	stepLayer := map[int]string{}
	for i, pk := range p.Lock.Plugins {
		if skipped[pk.Name] {
			stepLayer[base+i] = pk.Name
		}
	}
	prefix := "platform " + pl.name + ": "
	if len(have) != len(should) {
		diffs = append(diffs, fmt.Sprintf("%simage has %d layers, %s builds %d (%d of the base, %d plugins, 2 of the launcher)",
			prefix, len(have), lockfile.LockFile, len(should), base, len(p.Lock.Plugins)))
	}
	for i := 0; i < len(should); i++ {
		what := describeLayer(i, base, should[i], res, p)
		if name, ok := stepLayer[i]; ok {
			notes = append(notes, fmt.Sprintf("%slayer %d (plugin %s) not recomputed: its [build] steps need BuildKit; pass --buildkit ADDR or set %s",
				prefix, i, name, EnvBuildkitHost))
			continue
		}
		switch {
		case i >= len(have):
			diffs = append(diffs, fmt.Sprintf("%slayer %d missing: should be %s, %s", prefix, i, should[i], what))
		case have[i] != should[i]:
			diffs = append(diffs, fmt.Sprintf("%slayer %d differs: image has %s, should be %s, %s", prefix, i, have[i], should[i], what))
		}
	}
	for i := len(should); i < len(have); i++ {
		diffs = append(diffs, fmt.Sprintf("%slayer %d (%s) is not built from %s", prefix, i, have[i], lockfile.LockFile))
	}
	ld, err := compareLabels(pl.img, want)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range ld {
		diffs = append(diffs, prefix+d)
	}
	if len(diffs) == 0 && len(notes) == 0 {
		hc, err1 := pl.img.ConfigName()
		wc, err2 := want.ConfigName()
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("image config: %v %v", err1, err2)
		}
		if hc != wc {
			diffs = append(diffs, fmt.Sprintf("%simage config differs (entrypoint, environment, history or healthcheck): image has %s, should be %s", prefix, hc, wc))
		}
	}
	return diffs, notes, nil
}

// describeLayer says what layer i should hold.
func describeLayer(i, base int, d v1.Hash, res *builder.Result, p *lockfile.Project) string {
	if i < base {
		return fmt.Sprintf("layer %d of the base %s", i, p.Lock.Base.Digest)
	}
	if k := i - base; k < len(p.Lock.Plugins) {
		pk := p.Lock.Plugins[k]
		what := fmt.Sprintf("plugin %s at commit %s (tree %s", pk.Name, pk.Commit, pk.Tree)
		if pk.IsArtifact() {
			what = fmt.Sprintf("plugin %s, %s %s %s (tree %s", pk.Name, pk.Kind, pk.SourceName(), pk.Digest, pk.Tree)
		}
		if pk.Path != "" {
			what += ", path " + pk.Path
		}
		return what + ") in " + p.Target(pk)
	}
	if name, ok := res.Layers[d]; ok {
		if strings.HasPrefix(name, "launcher configuration") {
			return "/etc/graft/launcher.toml merged from graft.toml and the plugins"
		}
		return name + " at " + builder.LauncherPath
	}
	return "a launcher layer"
}

func digests(img v1.Image) ([]v1.Hash, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Hash, len(ls))
	for i, l := range ls {
		if out[i], err = l.Digest(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// graftLabels are the labels graft sets (see builder.Label*).
var graftLabels = []string{builder.LabelBaseName, builder.LabelBaseDigest, builder.LabelCreated, builder.LabelPlugins,
	builder.LabelLauncherVersion, builder.LabelGraftVersion}

func compareLabels(have, want v1.Image) ([]string, error) {
	hc, err := have.ConfigFile()
	if err != nil {
		return nil, err
	}
	wc, err := want.ConfigFile()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range graftLabels {
		h, w := hc.Config.Labels[k], wc.Config.Labels[k]
		if h != w {
			out = append(out, fmt.Sprintf("label %s: image has %q, should be %q", k, h, w))
		}
	}
	sort.Strings(out)
	return out, nil
}
