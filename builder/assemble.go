package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/internal/elfcheck"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/internal/version"
	"github.com/graft-build/graft/lockfile"
)

// assembly is one Build of a plan in progress.
type assembly struct {
	plan    *Plan
	o       *options
	plugins []*plugin

	mu     sync.Mutex
	layers map[layerKey]v1.Layer // plugin layers without steps are the same on every platform
}

type layerKey struct {
	plugin   string
	mt       types.MediaType
	uid, gid int
}

// pluginEpoch is the mtime of a plugin's files: SOURCE_DATE_EPOCH, else its commit's time, so
// that changing one plugin leaves every other plugin's layer byte-identical.
func (a *assembly) pluginEpoch(pl *plugin) time.Time {
	if a.plan.epoch != nil {
		return *a.plan.epoch
	}
	return pl.commitTime
}

// imageEpoch is the image's created time and the launcher layer's mtime: SOURCE_DATE_EPOCH,
// else the newest of the base's created time and the plugins' commit times.
func (a *assembly) imageEpoch() time.Time {
	if a.plan.epoch != nil {
		return *a.plan.epoch
	}
	t := a.plan.created
	for _, pl := range a.plugins {
		if pl.commitTime.After(t) {
			t = pl.commitTime
		}
	}
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Truncate(time.Second)
}

// launcherEpoch is the launcher binary's mtime: SOURCE_DATE_EPOCH, else the base's created
// time, so that its layer stays the same while plugins change.
func (a *assembly) launcherEpoch() time.Time {
	if a.plan.epoch != nil {
		return *a.plan.epoch
	}
	if a.plan.created.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return a.plan.created.Truncate(time.Second)
}

func (a *assembly) run(ctx context.Context) (*contract.Result, error) {
	base := a.plan.base
	res := &contract.Result{Base: base.written, BaseRef: base.ref.String(), Created: a.imageEpoch()}
	for _, pl := range a.plugins {
		info := contract.PluginInfo{Name: pl.lock.Name, Commit: pl.lock.Commit, Ref: pl.lock.Ref, Path: pl.lock.Path, Dest: pl.lock.Dest}
		switch {
		case pl.lock.Kind == lockfile.KindLocal:
			info.Local, info.Tree = pl.lock.Local, pl.lock.Tree
		case pl.lock.IsArtifact():
			info.Kind, info.Source, info.Digest, info.Tree = pl.lock.Kind, pl.lock.SourceName(), pl.lock.Digest, pl.lock.Tree
		}
		if pl.override != "" {
			info.Unlocked, info.Tree = true, pl.override
		}
		res.Plugins = append(res.Plugins, info)
	}
	a.layers = map[layerKey]v1.Layer{}
	images := make([]v1.Image, len(a.plan.plats))
	for i, bp := range a.plan.plats {
		img, err := a.platform(ctx, bp, res)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bp.name(), err)
		}
		images[i] = img
		res.Platforms = append(res.Platforms, bp.name())
	}
	for _, pl := range a.plugins {
		a.o.event(progress.Event{Subject: pl.lock.Name, Phase: progress.Done})
	}
	a.o.event(progress.Event{Subject: LauncherSubject, Phase: progress.Done})
	if base.index == nil {
		res.Image = images[0]
		d, err := res.Image.Digest()
		res.Digest = d
		return res, err
	}
	idx := mutate.IndexMediaType(empty.Index, base.indexMT)
	for i, bp := range a.plan.plats {
		plat := bp.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: images[i],
			Descriptor: v1.Descriptor{Platform: &plat, MediaType: bp.manifestMT}})
	}
	if base.indexMT == types.OCIImageIndex {
		idx = mutate.Annotations(idx, a.labels(res, base.digest, "")).(v1.ImageIndex)
	}
	res.Index = idx
	d, err := idx.Digest()
	res.Digest = d
	return res, err
}

// platform builds the image of one platform: plugin layers in lock order, then the launcher
// binary and its configuration; res.Layers gets the image's layers in order.
func (a *assembly) platform(ctx context.Context, bp *basePlatform, res *contract.Result) (v1.Image, error) {
	layers := make([]v1.Layer, len(a.plugins))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.o.jobs)
	for i, pl := range a.plugins {
		g.Go(func() error {
			l, err := a.pluginLayer(gctx, bp, pl)
			layers[i] = l
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	bin, lversion, err := a.o.launchers.Launcher(bp.platform)
	if err != nil {
		return nil, err
	}
	// Launchers checked it and named the file; any other source is checked here all the same.
	if err := elfcheck.Static(bin, bp.platform); err != nil {
		return nil, usererr.New("graft-launcher for %s: %v; %s", bp.name(), err, launcherFix(bp.platform))
	}
	a.o.event(progress.Event{Subject: LauncherSubject, Phase: progress.Layering, Detail: bp.name() + " " + lversion})
	bl, cl, err := a.launcherLayers(ctx, bp, bin, res.Created)
	if err != nil {
		return nil, err
	}
	a.launcherLayered(bp, lversion, bl, cl)
	adds := make([]mutate.Addendum, 0, len(layers)+2)
	infos := make([]contract.LayerInfo, 0, len(layers)+2)
	for i, pl := range a.plugins {
		adds = append(adds, mutate.Addendum{Layer: layers[i], MediaType: bp.layerMT, History: v1.History{
			Created: v1.Time{Time: a.pluginEpoch(pl)}, CreatedBy: "graft: plugin " + pl.lock.Name + " " + pl.version()}})
		infos = append(infos, contract.LayerInfo{Kind: contract.KindPlugin, Plugin: pl.lock.Name, Version: pl.version()})
	}
	adds = append(adds, mutate.Addendum{Layer: bl, MediaType: bp.layerMT, History: v1.History{
		Created: v1.Time{Time: a.launcherEpoch()}, CreatedBy: "graft: launcher " + lversion}},
		mutate.Addendum{Layer: cl, MediaType: bp.layerMT, History: v1.History{
			Created: v1.Time{Time: res.Created}, CreatedBy: "graft: launcher configuration"}})
	infos = append(infos, contract.LayerInfo{Kind: contract.KindLauncher, Version: lversion},
		contract.LayerInfo{Kind: contract.KindLauncherConfig})
	res.Layers = append(res.Layers, bp.layers...)
	for i, add := range adds {
		if err := describe(&infos[i], add.Layer, bp.name()); err != nil {
			return nil, err
		}
	}
	res.Layers = append(res.Layers, infos...)
	img, err := mutate.Append(bp.image, adds...)
	if err != nil {
		return nil, err
	}
	return a.configure(img, bp, res, lversion)
}

// describe completes info with l's digests and the platform.
func describe(info *contract.LayerInfo, l v1.Layer, platform string) error {
	var err error
	if info.Digest, err = l.Digest(); err != nil {
		return err
	}
	if info.DiffID, err = l.DiffID(); err != nil {
		return err
	}
	info.Platform = platform
	return nil
}

// pluginLayer is the plugin's layer for bp: its files, or what its build steps made of them.
func (a *assembly) pluginLayer(ctx context.Context, bp *basePlatform, pl *plugin) (v1.Layer, error) {
	key := layerKey{pl.lock.Name, bp.layerMT, bp.uid, bp.gid}
	steps := len(pl.def.Build.Run) > 0
	if !steps {
		a.mu.Lock()
		l, ok := a.layers[key]
		a.mu.Unlock()
		if ok {
			return l, nil
		}
	}
	epoch := a.pluginEpoch(pl)
	a.o.event(progress.Event{Subject: pl.lock.Name, Phase: progress.Layering, Detail: bp.name()})
	files, err := pl.fileLayer(ctx, bp, epoch, a.o)
	if err != nil {
		return nil, err
	}
	var l v1.Layer = files
	if steps {
		a.o.event(progress.Event{Subject: pl.lock.Name, Phase: progress.Steps, Detail: bp.name()})
		l, err = a.o.steps.RunSteps(ctx, contract.StepRequest{Plugin: pl.lock.Name, Steps: stepsOf(pl.def), Platform: bp.platform,
			BaseRef: bp.ref, Base: bp.image, PluginTar: files.Uncompressed, PluginDir: pl.dir,
			UID: bp.uid, GID: bp.gid, Epoch: epoch, MediaType: bp.layerMT, Progress: a.o.progress})
		if err != nil {
			return nil, err // a StepRunner's errors name the plugin already
		}
	} else {
		a.mu.Lock()
		a.layers[key] = l
		a.mu.Unlock()
	}
	size, _ := l.Size()
	digest, _ := l.Digest()
	detail := fmt.Sprintf("%s %s (%s)", bp.name(), digest.Hex[:12], humanSize(size))
	a.o.event(progress.Event{Subject: pl.lock.Name, Phase: progress.Layered, Detail: detail, Plain: "layer  " + pl.lock.Name + " " + detail})
	return l, nil
}

// configure sets the launcher as entrypoint, the created time and graft's labels.
func (a *assembly) configure(img v1.Image, bp *basePlatform, res *contract.Result, lversion string) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: res.Created}
	cf.Config.Entrypoint = []string{LauncherPath}
	cf.Config.Cmd = []string{"run"}
	cf.Config.Healthcheck = Healthcheck(a.plan.project.Site)
	labels := a.labels(res, bp.digest, lversion)
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	for k, v := range labels {
		cf.Config.Labels[k] = v
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	// Docker schema 2 manifests have no annotations; the labels carry the same there.
	if bp.manifestMT == types.OCIManifestSchema1 {
		img = mutate.Annotations(img, labels).(v1.Image)
	}
	return img, nil
}

// labels are graft's labels and annotations; baseDigest is the base manifest (or index) digest.
func (a *assembly) labels(res *contract.Result, baseDigest v1.Hash, lversion string) map[string]string {
	plugins, _ := json.Marshal(res.Plugins)
	if res.Plugins == nil {
		plugins = []byte("[]")
	}
	l := map[string]string{
		contract.LabelBaseName:     res.Base,
		contract.LabelBaseDigest:   baseDigest.String(),
		contract.LabelCreated:      res.Created.Format(time.RFC3339),
		contract.LabelPlugins:      string(plugins),
		contract.LabelGraftVersion: version.String(),
	}
	if lversion != "" {
		l[contract.LabelLauncherVersion] = lversion
	}
	if names := unlockedNames(res.Plugins); names != "" {
		l[contract.LabelUnlocked] = names
	}
	return l
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// launcherLayered reports the launcher's two layers; plain mode never printed them, so it
// still does not.
func (a *assembly) launcherLayered(bp *basePlatform, version string, bl, cl v1.Layer) {
	bs, _ := bl.Size()
	cs, _ := cl.Size()
	cd, _ := cl.Digest()
	a.o.event(progress.Event{Subject: LauncherSubject, Phase: progress.Layered,
		Detail: fmt.Sprintf("%s %s, config %s (%s)", bp.name(), version, cd.Hex[:12], humanSize(bs+cs))})
}
