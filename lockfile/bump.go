package lockfile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/graft-build/graft/internal/atomicfile"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// Bump is the move of one plugin to its newest version (`graft lock --bump`): a tag (or a
// commit carrying version tags) to the newest version tag, a branch to its head.
type Bump struct {
	Plugin    string             `json:"plugin"`
	Kind      string             `json:"kind"`    // what the locked ref named: branch, tag or commit
	OldRef    string             `json:"old_ref"` // plugin.toml's ref before
	NewRef    string             `json:"new_ref"` // after (the same for a branch)
	OldCommit string             `json:"old_commit"`
	NewCommit string             `json:"new_commit"`
	History   *gitremote.History `json:"history,omitempty"` // commits between, for review
	// HistoryError says why the commits between could not be listed (the bump still happened).
	HistoryError string `json:"history_error,omitempty"`

	edits []edit // plugin.toml values to write (url, maven, oci); none: ref becomes NewRef
}

// Moved reports whether the bump changes anything.
func (b *Bump) Moved() bool { return b.NewRef != b.OldRef || b.NewCommit != b.OldCommit }

// PlanBump finds where plugin name would move: the newest version tag above the locked
// version (see Outdated), or a branch's head. It changes nothing.
func (p *Project) PlanBump(ctx context.Context, name string, opts ...ResolveOption) (*Bump, error) {
	if p.lockErr != nil {
		return nil, p.lockErr
	}
	if err := p.checkNames([]string{name}); err != nil {
		return nil, err
	}
	pl, pk := p.Plugin(name), p.PluginLock(name)
	switch {
	case pk == nil:
		return nil, usererr.New("plugin %s is not in graft.lock yet; run `graft lock` first", name)
	case pl.Source.Local != "" || pk.Kind == KindLocal:
		return nil, usererr.New("plugin %s is kept in the site repository (source.local): it has no versions to bump to; edit its folder and run `graft lock`", name)
	case IsTemplate(pl.Source.Ref):
		return nil, p.pluginErr(*pl, "source.ref", "plugin %s: ref %q follows the base's version; bump the base and it moves with it", name, pl.Source.Ref)
	}
	cfg := newResolveConfig(opts)
	if pk.IsArtifact() {
		store, done, err := cfg.store()
		if err != nil {
			return nil, err
		}
		defer done()
		cfg.artifacts = store
		var b *Bump
		err = p.bounded(ctx, cfg, *pl, func(ctx context.Context) (err error) {
			b, err = p.planBumpArtifact(ctx, cfg, *pl, pk)
			return err
		})
		return b, err
	}
	b := &Bump{Plugin: name, Kind: pk.Kind, OldRef: pl.Source.Ref, NewRef: pl.Source.Ref, OldCommit: pk.Commit, NewCommit: pk.Commit}
	err := p.bounded(ctx, cfg, *pl, func(ctx context.Context) error {
		r, err := p.open(ctx, cfg, *pl)
		if err != nil {
			return err
		}
		defer r.Close()
		if pk.Kind == KindBranch {
			if _, head, ok := Lookup(r, pk.Ref); ok {
				b.NewCommit = head
			}
			return nil
		}
		base, ok := lockedVersion(pk)
		if !ok {
			return p.pluginErr(*pl, "source.ref", "plugin %s: ref %q is not a version tag and no version tag points at commit %s; "+
				"set ref to a version tag (e.g. v1.2.3) by hand, then --bump can move it", name, pl.Source.Ref, Short(pk.Commit))
		}
		newer := newerTags(r, base)
		if len(newer) == 0 {
			return nil
		}
		tag := newer[len(newer)-1]
		x, _ := r.Ref("refs/tags/" + tag)
		b.NewCommit, b.NewRef = x.Commit, tag
		if strings.HasPrefix(pl.Source.Ref, "refs/tags/") {
			b.NewRef = "refs/tags/" + tag
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// SetRef edits plugin name's plugin.toml in memory (see WritePluginFile): source.ref becomes
// ref, every other byte of the file stays as it is.
func (p *Project) SetRef(name, ref string) error {
	data, err := EditRef(p.pluginFile(name), p.pluginData[name], ref)
	if err != nil {
		return err
	}
	pl, err := ParsePlugin(p.pluginFile(name), name, data)
	if err != nil {
		return err
	}
	if pl.Source.Ref != ref {
		return fmt.Errorf("%s: edited ref reads back as %q, not %q", p.pluginFile(name), pl.Source.Ref, ref)
	}
	*p.Plugin(name) = *pl
	p.pluginData[name] = data
	return nil
}

// PluginFile is the path of plugin name's plugin.toml.
func (p *Project) PluginFile(name string) string {
	return filepath.Join(p.Dir, PluginsDir, name, PluginFile)
}

// PluginData is plugin name's plugin.toml as loaded (or as SetRef left it).
func (p *Project) PluginData(name string) []byte { return p.pluginData[name] }

// EditRef returns data (a plugin.toml) with the value of source.ref replaced by ref (see
// EditString).
func EditRef(file string, data []byte, ref string) ([]byte, error) {
	return EditString(file, data, "source.ref", ref)
}

// EditString returns data (a TOML file) with the string value of the dotted key replaced by
// value, written in the same quoting style; nothing else changes. It finds the key through the
// TOML parser, so tables, dotted keys and inline tables all work, and strings elsewhere that
// look like the key's line are left alone.
func EditString(file string, data []byte, key, value string) ([]byte, error) {
	short := key[strings.LastIndexByte(key, '.')+1:]
	if strings.ContainsAny(value, "\"'\\\n\r\t") {
		return nil, usererr.New("%s %q cannot be written into %s; set it by hand", short, value, file)
	}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	var found []unstable.Range
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyOf(e.Key())
		case unstable.KeyValue:
			found = append(found, stringValues(append(append([]string{}, table...), keyOf(e.Key())...), key, e.Value())...)
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(found) != 1 {
		return nil, usererr.New("%s: found %d %s string values; set %s = %q by hand", file, len(found), key, short, value)
	}
	r := found[0]
	raw := data[r.Offset : r.Offset+r.Length]
	quote := `"`
	if bytes.HasPrefix(raw, []byte("'")) {
		quote = "'"
	}
	var out bytes.Buffer
	out.Write(data[:r.Offset])
	out.WriteString(quote + value + quote)
	out.Write(data[r.Offset+r.Length:])
	return out.Bytes(), nil
}

// stringValues finds the string value of want in key = value (recursing into inline tables).
func stringValues(key []string, want string, v *unstable.Node) []unstable.Range {
	switch {
	case v.Kind == unstable.String && strings.Join(key, ".") == want:
		return []unstable.Range{v.Raw}
	case v.Kind == unstable.InlineTable:
		var out []unstable.Range
		for it := v.Children(); it.Next(); {
			kv := it.Node()
			if kv.Kind == unstable.KeyValue {
				out = append(out, stringValues(append(append([]string{}, key...), keyOf(kv.Key())...), want, kv.Value())...)
			}
		}
		return out
	}
	return nil
}

func keyOf(it unstable.Iterator) []string {
	var out []string
	for it.Next() {
		out = append(out, string(it.Node().Data))
	}
	return out
}

// WritePluginFile writes plugin name's plugin.toml as held in memory, atomically, keeping the
// file's permissions.
func (p *Project) WritePluginFile(name string, data []byte) error {
	return writeKeepingMode(p.PluginFile(name), data)
}

// WriteSiteFile writes graft.toml as SetBase left it, atomically, keeping the file's permissions.
func (p *Project) WriteSiteFile(data []byte) error {
	return writeKeepingMode(filepath.Join(p.Dir, SiteFile), data)
}

func writeKeepingMode(path string, data []byte) error {
	perm := os.FileMode(0o644)
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
		perm = st.Mode().Perm()
	}
	return atomicfile.Write(path, data, perm)
}

// Log lists the commits between from and to of plugin name's repository (git log from..to),
// newest first, at most limit.
func (p *Project) Log(ctx context.Context, name, from, to string, limit int, opts ...ResolveOption) (*gitremote.History, error) {
	pl := p.Plugin(name)
	if pl == nil {
		return nil, p.checkNames([]string{name})
	}
	if pl.Source.Type() != TypeGit {
		return nil, errNotGit
	}
	cfg := newResolveConfig(opts)
	var h *gitremote.History
	err := p.bounded(ctx, cfg, *pl, func(ctx context.Context) error {
		r, err := p.open(ctx, cfg, *pl)
		if err != nil {
			return err
		}
		defer r.Close()
		h, err = r.Log(ctx, from, to, limit)
		return err
	})
	return h, err
}
