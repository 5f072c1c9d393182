package builder

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/lockfile"
)

// LauncherPath is where the image carries graft-launcher (its ENTRYPOINT).
const LauncherPath = "/usr/local/bin/graft-launcher"

// MergeLauncherConfig is graft.toml's [launcher] with every plugin's contributions appended in
// lock order (graft.toml's plugin_order first): its settings, one [[hook]] per hook (named after the plugin, run from the
// plugin's folder in the image), one [[template]] per template (its src in the plugin's
// folder in the image) and its config snippets, default target then named targets. Two templates writing one dest are refused.
func MergeLauncherConfig(p *lockfile.Project) (*config.Config, error) {
	merged := p.Site.Launcher
	// The launcher protects the plugins from tmp cleaning; it learns where they are from here.
	merged.PluginsDir = p.Site.PluginsDir
	merged.Settings = append([]config.Setting(nil), merged.Settings...)
	merged.Hooks = append([]config.Hook(nil), merged.Hooks...)
	merged.Snippets = append([]config.Snippet(nil), merged.Snippets...)
	merged.Templates = append([]config.Template(nil), merged.Templates...)
	declared := map[string]string{} // setting name -> where it was declared
	for _, st := range merged.Settings {
		declared[st.Name] = lockfile.SiteFile
	}
	rendered := map[string]string{} // template dest -> where it was declared
	for _, t := range merged.Templates {
		rendered[t.Dest] = lockfile.SiteFile
	}
	for _, pk := range p.Ordered() {
		pl := p.Plugin(pk.Name)
		if pl == nil {
			return nil, usererr.New("graft.lock: plugin %s has no plugins/%s/plugin.toml; run `graft lock`", pk.Name, pk.Name)
		}
		file := "plugins/" + pl.Name + "/" + lockfile.PluginFile
		for _, st := range pl.Launcher.Settings {
			if where, dup := declared[st.Name]; dup {
				return nil, p.PluginError(pl.Name, "launcher.settings", -1,
					"setting %q is also declared in %s; the launcher takes one value per name: rename one", st.Name, where)
			}
			declared[st.Name] = file
		}
		merged.Settings = append(merged.Settings, pl.Launcher.Settings...)
		dir := p.Target(pk) // plugins_dir/NAME, or the plugin's [install] dest
		for _, h := range pl.Launcher.Hooks {
			merged.Hooks = append(merged.Hooks, config.Hook{Name: pl.Name,
				Run: []string{path.Join(dir, h)}})
		}
		for j, t := range pl.Launcher.Templates {
			if where, dup := rendered[t.Dest]; dup {
				return nil, p.PluginError(pl.Name, "launcher.template.dest", j,
					"%q is also the dest of a template in %s; one file can come from one template only: change one dest", t.Dest, where)
			}
			rendered[t.Dest] = file
			merged.Templates = append(merged.Templates, config.Template{
				Src: path.Join(dir, t.Src), Dest: t.Dest})
		}
		if pl.Config.Snippet != "" {
			merged.Snippets = append(merged.Snippets, config.Snippet{Plugin: pl.Name, Text: pl.Config.Snippet})
		}
		for _, target := range sortedTargets(pl.Config.Targets) {
			merged.Snippets = append(merged.Snippets, config.Snippet{Plugin: pl.Name, Target: target, Text: pl.Config.Targets[target]})
		}
	}
	// Two plugins declaring one setting name only conflict once merged: say so before the
	// image carries a configuration the launcher would refuse at start.
	if err := merged.Validate("launcher.toml merged from graft.toml and plugins", nil); err != nil {
		return nil, usererr.Wrap(err)
	}
	return &merged, nil
}

// Healthcheck is the HEALTHCHECK graft gives an image of site: the launcher's healthcheck,
// timed by graft.toml's [healthcheck].
func Healthcheck(site *lockfile.Site) *v1.HealthConfig {
	interval, timeout, start := site.Healthcheck.Durations()
	return &v1.HealthConfig{Test: []string{"CMD", LauncherPath, "healthcheck"},
		Interval: interval, Timeout: timeout, StartPeriod: start, Retries: site.Healthcheck.Retries}
}

func sortedTargets(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// launcherLayers are the launcher binary and its configuration, owned by root, as two layers:
// the binary (megabytes) changes only with the launcher, so a plugin's change re-sends the
// small configuration layer, not the binary. The binary's mtime is launcherEpoch, the
// configuration's confEpoch (the image's created time).
// The configuration's layer also holds the folders the launcher writes, owned by the app's
// uid:gid: the port folder and tmp_dir. The launcher runs as that user and could not create
// them under a root-owned /run or app folder itself ("mkdir /archivesspace/tmp: permission
// denied"). It repeats the base's folders above what graft's layers own with the base's own
// metadata (see basedirs.go: Docker would otherwise show them as root:root 0755).
func (a *assembly) launcherLayers(ctx context.Context, bp *basePlatform, bin []byte, confEpoch time.Time) (v1.Layer, *layer.Layer, error) {
	lc := a.plan.conf
	conf, err := lc.Marshal()
	if err != nil {
		return nil, nil, err
	}
	parents, err := baseDirs(ctx, bp.image, bp.digest, ancestorDirs(a.plan.project, appDirs(lc)), a.o)
	if err != nil {
		return nil, nil, fmt.Errorf("base image folders: %w", err)
	}
	if err := checkBaseDirs(parents, a.plan.base.written); err != nil {
		return nil, nil, err
	}
	// The binary's layer holds no directory: /usr/local/bin belongs to the base (a runtime
	// creates a missing one as root 0755). The configuration's layer owns /etc/graft.
	bl, err := binaryLayer(ctx, bin, bp.layerMT, a.launcherEpoch(), a.o)
	if err != nil {
		return nil, nil, err
	}
	confEntries := []layer.Entry{{Name: config.DefaultPath, Type: tar.TypeReg, Mode: 0o644, Data: conf}}
	for _, d := range parents {
		confEntries = append(confEntries, layer.Entry{Name: d.Path, Type: tar.TypeDir, Mode: d.Mode, UID: d.UID, GID: d.GID})
	}
	for _, dir := range appDirs(lc) {
		confEntries = append(confEntries, layer.Entry{Name: dir, Type: tar.TypeDir, Mode: 0o755, UID: bp.uid, GID: bp.gid})
	}
	cl, err := layer.New(confEntries, a.o.layerOpts(layer.WithRoot(path.Dir(config.DefaultPath)),
		layer.WithEpoch(confEpoch), layer.WithMediaType(bp.layerMT))...)
	if err != nil {
		return nil, nil, fmt.Errorf("launcher configuration layer: %w", err)
	}
	return bl, cl, nil
}

// sharedTmp are system tmp folders every base has with mode 1777: tmp_dir may be one of them,
// but graft's layer must not replace their owner and mode.
var sharedTmp = map[string]bool{"/tmp": true, "/var/tmp": true, "/dev/shm": true}

// appDirs are the folders the launcher's layer creates for the app's user: port_dir (default
// /run/graft/ports) and tmp_dir.
func appDirs(lc *config.Config) []string {
	portDir := lc.PortDir
	if portDir == "" {
		portDir = config.DefaultPortDir
	}
	dirs := []string{portDir}
	if lc.TmpDir != "" && !sharedTmp[path.Clean(lc.TmpDir)] && path.Clean(lc.TmpDir) != path.Clean(portDir) {
		dirs = append(dirs, path.Clean(lc.TmpDir))
	}
	return dirs
}

// binaryLayer is the launcher binary's layer, taken from the build cache by the binary's hash
// when it was made before (hashing the binary costs less than hashing and checking its tar; a
// fresh CI runner would compress megabytes again), checked against the binary.
func binaryLayer(ctx context.Context, bin []byte, mt types.MediaType, epoch time.Time, o *options) (v1.Layer, error) {
	opts := []layer.Option{layer.WithRoot(LauncherPath), layer.WithEpoch(epoch), layer.WithMediaType(mt)}
	entries := []layer.Entry{{Name: LauncherPath, Type: tar.TypeReg, Mode: 0o755}}
	blob := plumbing.ComputeHash(plumbing.BlobObject, bin)
	key := fmt.Sprintf("launcher\x00%s\x00%x", LauncherPath, sha256.Sum256(bin))
	spec := buildcache.LayerSpec{ID: layer.KeyID(key, opts...), What: "the launcher's layer", MediaType: mt, Options: opts,
		Expect: layer.Expect{Entries: entries, Content: buildcache.GitContent(map[string]plumbing.Hash{LauncherPath: blob})}}
	return o.buildCache.Layer(ctx, spec, func(opts ...layer.Option) (*layer.Layer, error) {
		l, err := layer.New([]layer.Entry{{Name: LauncherPath, Type: tar.TypeReg, Mode: 0o755, Data: bin}}, opts...)
		if err != nil {
			return nil, fmt.Errorf("launcher layer: %w", err)
		}
		return l, nil
	})
}

// launcherFix is how to make a launcher that passes elfcheck.Static.
func launcherFix(p v1.Platform) string {
	return fmt.Sprintf("rebuild it static: `CGO_ENABLED=0 GOOS=%s GOARCH=%s go build -trimpath -ldflags='-s -w' -o %s ./cmd/graft-launcher`",
		p.OS, p.Architecture, LauncherFile(v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}))
}
