package builder

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/graft-build/graft/builder/buildcache"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

// plugin is one locked plugin with its verified files.
type plugin struct {
	lock       lockfile.PluginLock
	def        *lockfile.Plugin
	files      []fetch.File
	commitTime time.Time
	dir        string       // plugins_dir/<name> in the image, or its [install] dest (a file's path for install.as = "file")
	src        fetch.Reader // a git commit, a folder of the site repository, or a fetched artifact
	listingKey string       // names its listing in the caches; "" for none (a local folder)
	override   string       // the content of a working folder given with --override (its tree); "" for the locked source

	mu     sync.Mutex // guards files and listed
	listed bool       // files hold no contents yet (see contents)
}

// short names the plugin's version in messages: its commit, or a local folder's tree.
func (pl *plugin) short() string { return shortVersion(pl.lock) }

func shortVersion(pk lockfile.PluginLock) string {
	switch {
	case pk.Kind == lockfile.KindLocal:
		return "tree " + pk.Tree[:min(12, len(pk.Tree))]
	case pk.IsArtifact():
		return pk.Digest[:min(len("sha256:")+12, len(pk.Digest))]
	}
	return pk.Commit[:min(12, len(pk.Commit))]
}

// version is the plugin's full version for the layer's history: its commit, a local folder's
// tree, or a fetched file's (manifest's) digest and tree.
func (pl *plugin) version() string {
	switch {
	case pl.override != "":
		return "unlocked (--override) " + pl.override
	case pl.lock.Kind == lockfile.KindLocal:
		return "local " + pl.lock.Local + " tree " + pl.lock.Tree
	case pl.lock.IsArtifact():
		return pl.lock.Kind + " " + pl.lock.Digest + " tree " + pl.lock.Tree
	}
	return pl.lock.Commit
}

// fetchAll fetches every plugin of the plan (bounded parallelism), in lock order.
func fetchAll(ctx context.Context, plan *Plan, o *options) ([]*plugin, error) {
	out := make([]*plugin, len(plan.sources))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for i := range plan.sources {
		src := &plan.sources[i]
		g.Go(func() error {
			pl, err := fetchOne(ctx, plan, o, src)
			out[i] = pl
			return err
		})
	}
	return out, g.Wait()
}

func fetchOne(ctx context.Context, plan *Plan, o *options, src *source) (*plugin, error) {
	p, pk := plan.project, src.lock
	o.event(progress.Event{Subject: pk.Name, Phase: progress.Fetching, Detail: shortVersion(pk)})
	pl := &plugin{lock: pk, def: src.def, dir: src.dir, src: src.reader(o, plan.resolve)}
	how, err := pl.list(ctx, o)
	var edited *fetch.LockedCommitError
	if errors.As(err, &edited) {
		return nil, p.EditedCommit(pk.Name, edited.Why) // at its line of graft.lock, exit 2
	}
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("%s (%s, %d files)", pl.short(), how, countFiles(pl.files))
	o.event(progress.Event{Subject: pk.Name, Phase: progress.Fetched, Detail: detail, Plain: "fetch  " + pk.Name + " " + detail})
	if err := pl.check(p); err != nil {
		return nil, err
	}
	return pl, nil
}

// pin names the plugin's content in layer keys: its commit (none for a local folder, whose
// tree says it all), or a fetched file's digest.
func (pl *plugin) pin() string {
	if pl.lock.IsArtifact() {
		return pl.lock.Digest
	}
	return pl.lock.Commit
}

// countFiles counts what git would list (regular files and symlinks), not folders.
func countFiles(files []fetch.File) int {
	n := 0
	for _, f := range files {
		if f.Mode != filemode.Dir {
			n++
		}
	}
	return n
}

// check refuses symlinks leaving the plugin's folder (they would expose or shadow the base's
// files), hooks or templates the plugin does not hold, and a plugin installed as one file that
// is not exactly one file.
func (pl *plugin) check(p *lockfile.Project) error {
	if pl.def.InstallsFile() {
		if len(pl.files) != 1 || (pl.files[0].Mode != filemode.Regular && pl.files[0].Mode != filemode.Executable) {
			return usererr.New("plugin %s is installed as one file (install.as = \"file\"), but %s holds %d entries; run `graft lock`", pl.lock.Name, pl.short(), len(pl.files))
		}
	}
	have := map[string]bool{}
	links := map[string]string{} // absolute path in the image -> target
	for _, f := range pl.files {
		if err := pl.checkLength(f); err != nil {
			return err
		}
		have[f.Path] = true
		if f.Mode == filemode.Symlink {
			links[path.Join(pl.dir, f.Path)] = string(f.Data)
		}
	}
	for _, f := range pl.files {
		if f.Mode != filemode.Symlink {
			continue
		}
		switch pl.resolve(links, path.Join(pl.dir, f.Path)) {
		case linkOutside:
			return usererr.New("plugin %s: symlink %s -> %s points outside the plugin's folder %s (commit %s); "+
				"graft installs only the plugin's own files: make the link relative and inside the plugin, or remove it",
				pl.lock.Name, f.Path, f.Data, pl.dir, pl.short())
		case linkLoop:
			return usererr.New("plugin %s: symlink %s -> %s is a loop: resolving it follows more than %d links, where the kernel gives up (commit %s); "+
				"fix or remove the links in the plugin", pl.lock.Name, f.Path, f.Data, maxLinks, pl.short())
		}
	}
	for _, h := range pl.def.Launcher.Hooks {
		if !have[path.Clean(h)] {
			return p.PluginError(pl.lock.Name, "launcher.hooks", -1,
				"%q is not a file of the plugin at commit %s; fix the path or add the file to the plugin", h, pl.short())
		}
	}
	for j, t := range pl.def.Launcher.Templates {
		if !have[path.Clean(t.Src)] {
			return p.PluginError(pl.lock.Name, "launcher.template.src", j,
				"%q is not a file of the plugin at commit %s; fix the path or add the file to the plugin", t.Src, pl.short())
		}
	}
	return nil
}

// Names Linux (so Docker, extracting a layer) cannot create: a name builds into a layer, then
// `docker load` or the container start fails. NAME_MAX and PATH_MAX (which counts the NUL).
const (
	maxComponentBytes = 255
	maxPathBytes      = 4095
)

// checkLength refuses a file whose path in the image, or one of its components, or a symlink
// target, is longer than Linux allows.
func (pl *plugin) checkLength(f fetch.File) error {
	full := path.Join(pl.dir, f.Path)
	bad := func(what string) error {
		return usererr.New("plugin %s: %s %s (commit %s); Linux and Docker cannot create it: shorten or remove it in the plugin",
			pl.lock.Name, shorten(f.Path), what, pl.short())
	}
	if len(full) > maxPathBytes {
		return bad(fmt.Sprintf("is %d bytes long as %s/…, over the %d bytes a path may have", len(full), pl.dir, maxPathBytes))
	}
	for _, c := range strings.Split(f.Path, "/") {
		if len(c) > maxComponentBytes {
			name := ""
			if c != f.Path {
				name = " (" + shorten(c) + ")"
			}
			return bad(fmt.Sprintf("has a name of %d bytes%s, over the %d bytes a file name may have", len(c), name, maxComponentBytes))
		}
	}
	if f.Mode == filemode.Symlink && len(f.Data) > maxPathBytes {
		return bad(fmt.Sprintf("is a symlink to a target of %d bytes, over the %d bytes a path may have", len(f.Data), maxPathBytes))
	}
	return nil
}

// shorten keeps a name readable in one line: its start and end around "…", cut at rune
// boundaries, when it is over 80 bytes.
func shorten(s string) string {
	const head, tail = 48, 24
	if len(s) <= 80 {
		return s
	}
	i, j := head, len(s)-tail
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	for j < len(s) && !utf8.RuneStart(s[j]) {
		j++
	}
	return s[:i] + "…" + s[j:]
}

// maxLinks bounds symlink expansions while resolving one link, as the kernel's ELOOP does.
const maxLinks = 40

// Where a plugin's symlink leads.
const (
	linkInside  = iota // every step stays in the plugin's folder
	linkOutside        // some step leaves it
	linkLoop           // too many links to follow (a cycle, or a chain longer than the kernel's)
)

// resolve follows the symlink at link the way the kernel would, following the plugin's own
// symlinks on the way, and says whether every step stays in the plugin's folder. A lexical
// check is not enough: with y -> "." the link x -> "y/.." looks like the folder itself but is
// its parent.
func (pl *plugin) resolve(links map[string]string, link string) int {
	cur, todo, ok := pl.start(path.Dir(link), links[link])
	if !ok {
		return linkOutside
	}
	for expansions := 0; len(todo) > 0; {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
		default:
			next := path.Join(cur, comp)
			target, isLink := links[next]
			if !isLink {
				cur = next
				break
			}
			if expansions++; expansions > maxLinks {
				return linkLoop
			}
			var more []string
			if cur, more, ok = pl.start(cur, target); !ok {
				return linkOutside
			}
			todo = append(more, todo...)
			continue
		}
		if cur != pl.dir && !within(cur, pl.dir) {
			return linkOutside
		}
	}
	if cur != pl.dir && !within(cur, pl.dir) {
		return linkOutside
	}
	return linkInside
}

// start is where resolving target from folder dir begins: dir for a relative target; for an
// absolute one, the plugin's folder when the target names it literally (the folders above it
// belong to the base, which graft cannot see), else not ok.
func (pl *plugin) start(dir, target string) (string, []string, bool) {
	if !path.IsAbs(target) {
		return dir, strings.Split(target, "/"), true
	}
	if target == pl.dir {
		return pl.dir, nil, true
	}
	if rest, ok := strings.CutPrefix(target, pl.dir+"/"); ok {
		return pl.dir, strings.Split(rest, "/"), true
	}
	return "", nil, false
}

func within(p, dir string) bool {
	return len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}

// blobIDs maps each regular file's path in the image (as entries names it) to its git blob.
func (pl *plugin) blobIDs(files []fetch.File) map[string]plumbing.Hash {
	ids := make(map[string]plumbing.Hash, len(files)+1)
	for _, f := range files {
		if f.Mode != filemode.Regular && f.Mode != filemode.Executable {
			continue
		}
		if pl.def.InstallsFile() {
			ids[pl.dir] = f.ID
			continue
		}
		ids[path.Join(pl.dir, f.Path)] = f.ID
	}
	if pl.def.Install.Replace && !pl.def.InstallsFile() {
		ids[path.Join(pl.dir, whiteoutOpaque)] = plumbing.ComputeHash(plumbing.BlobObject, nil)
	}
	return ids
}

// whiteoutOpaque in a folder of a layer hides what the layers below hold in it (OCI image spec).
const whiteoutOpaque = ".wh..wh..opq"

// entries are the plugin's files as layer entries under its folder in the image; a plugin
// installed as one file is that file at its path. A folder replacing the base's ([install]
// replace) carries an opaque whiteout, so none of the base's old files stay in it.
func (pl *plugin) entries(files []fetch.File) []layer.Entry {
	if pl.def.InstallsFile() {
		for _, f := range files {
			if f.Mode == filemode.Regular || f.Mode == filemode.Executable {
				mode := int64(0o644)
				if f.Mode == filemode.Executable {
					mode = 0o755
				}
				return []layer.Entry{{Name: pl.dir, Type: tar.TypeReg, Mode: mode, Open: f.Open, Size: f.Size}}
			}
		}
	}
	out := make([]layer.Entry, 0, len(files)+2)
	out = append(out, layer.Entry{Name: pl.dir, Type: tar.TypeDir, Mode: 0o755})
	if pl.def.Install.Replace {
		out = append(out, layer.Entry{Name: path.Join(pl.dir, whiteoutOpaque), Type: tar.TypeReg, Mode: 0o644})
	}
	for _, f := range files {
		e := layer.Entry{Name: path.Join(pl.dir, f.Path)}
		switch f.Mode {
		case filemode.Dir:
			e.Type, e.Mode = tar.TypeDir, 0o755
		case filemode.Executable:
			e.Type, e.Mode, e.Open, e.Size = tar.TypeReg, 0o755, f.Open, f.Size
		case filemode.Symlink:
			e.Type, e.Mode, e.Linkname = tar.TypeSymlink, 0o777, string(f.Data)
		default:
			e.Type, e.Mode, e.Open, e.Size = tar.TypeReg, 0o644, f.Open, f.Size
		}
		out = append(out, e)
	}
	return out
}

// fileLayer is the plugin's own files as a layer. A layer made before from the same commit,
// tree and path into the same folder (with the same owner, mtime and compression, which
// layer.KeyID adds to the key) is taken from the build cache, checked against the plugin's
// files (see expect), without reading their contents.
func (pl *plugin) fileLayer(ctx context.Context, bp *basePlatform, epoch time.Time, o *options) (v1.Layer, error) {
	opts := []layer.Option{layer.WithRoot(pl.dir), layer.WithOwner(bp.uid, bp.gid),
		layer.WithEpoch(epoch), layer.WithMediaType(bp.layerMT)}
	make := func(opts ...layer.Option) (*layer.Layer, error) {
		files, err := pl.contents(ctx, o)
		if err != nil {
			return nil, err
		}
		l, err := layer.New(pl.entries(files), opts...)
		pl.release()
		if err != nil {
			return nil, fmt.Errorf("plugin %s: layer: %w", pl.lock.Name, err)
		}
		return l, nil
	}
	var key string
	switch {
	case pl.override != "":
		key = fmt.Sprintf("override\x00%s\x00%s", pl.override, pl.dir)
	case pl.lock.Tree != "":
		key = fmt.Sprintf("plugin\x00%s\x00%s\x00%s\x00%s", pl.pin(), pl.lock.Tree, pl.lock.Path, pl.dir)
	default:
		return make(o.layerOpts(opts...)...)
	}
	if pl.def.InstallsFile() {
		key += "\x00file"
	}
	if pl.def.Install.Replace {
		key += "\x00replace"
	}
	return o.buildCache.Layer(ctx, buildcache.LayerSpec{ID: layer.KeyID(key, opts...), What: "plugin " + pl.lock.Name + "'s layer",
		Expect: pl.expect(), Options: opts, MediaType: bp.layerMT}, make)
}

// expect is what the plugin's layer holds, for checking one a cache supplies: its entries
// (from its listing, checked against the lock) and each file's git blob.
func (pl *plugin) expect() layer.Expect {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	files := make([]fetch.File, len(pl.files))
	for i, f := range pl.files {
		f.Open = nil
		files[i] = f
	}
	return layer.Expect{Entries: pl.entries(files), Content: buildcache.GitContent(pl.blobIDs(files))}
}
