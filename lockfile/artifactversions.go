package lockfile

import (
	"context"
	"fmt"
	"strings"

	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// artifactVersions lists what a url, maven or oci plugin could move to: its locked version
// and every version its source lists. unlisted says why none can be listed.
func (p *Project) artifactVersions(ctx context.Context, cfg *resolveConfig, pl Plugin, pk *PluginLock) (current string, all []string, unlisted string, err error) {
	src := pl.Source
	switch pk.Kind {
	case KindURL:
		switch {
		case !strings.Contains(src.URL, VersionPlaceholder):
			return "", nil, "url has no {version}: its versions cannot be listed", nil
		case src.Versions.Git != "":
			all, err = p.gitVersions(ctx, cfg, pl)
		case src.Versions.Maven != "":
			all, err = cfg.artifacts.MavenVersions(ctx, p.rewrite(src.Versions.Maven))
		default:
			return pk.Version, nil, "no [source.versions] says where url's versions are listed", nil
		}
		return pk.Version, all, "", err
	case KindMaven:
		m, err := ParseMaven(pk.Maven)
		if err != nil {
			return "", nil, "", err
		}
		all, err = cfg.artifacts.MavenVersions(ctx, p.rewrite(m.MetadataURL(p.mavenRepository(src))))
		return m.Version, all, "", err
	}
	ref, err := p.ociRef(pk.OCI)
	if err != nil {
		return "", nil, "", err
	}
	tag := ref.CurrentTag()
	if tag == "" {
		return "", nil, "pinned by digest: no tag to compare", nil
	}
	all, err = ref.Tags(ctx, cfg.image...)
	return tag, all, "", err
}

// gitVersions are the version tags of a url source's [source.versions] git repository, as
// versions (a leading v dropped: tag v1.2.3 fills {version} with 1.2.3).
func (p *Project) gitVersions(ctx context.Context, cfg *resolveConfig, pl Plugin) ([]string, error) {
	r, err := gitremote.Open(ctx, p.rewrite(pl.Source.Versions.Git), cfg.git...)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: versions: %w", pl.Name, err)
	}
	defer r.Close()
	var out []string
	for _, ref := range r.Refs() {
		if tag, ok := strings.CutPrefix(ref.Name, "refs/tags/"); ok {
			if _, isVersion := parseVersion(tag); isVersion {
				out = append(out, strings.TrimLeft(tag, "vV"))
			}
		}
	}
	return out, nil
}

// outdatedArtifact is Outdated for a url, maven or oci plugin: the versions above the locked
// one (and for oci, a tag that now names another manifest).
func (p *Project) outdatedArtifact(ctx context.Context, cfg *resolveConfig, pl Plugin, pk *PluginLock) (*Outdated, error) {
	o := &Outdated{Plugin: pl.Name, Ref: artifactName(*pk), Kind: pk.Kind, Locked: pk.Digest}
	current, all, unlisted, err := p.artifactVersions(ctx, cfg, pl, pk)
	if err != nil {
		return nil, err
	}
	o.Unlisted = unlisted
	if base, ok := parseVersion(current); ok {
		o.NewerVersions = newerVersions(all, base)
	} else if unlisted == "" {
		o.Unlisted = fmt.Sprintf("%q is not a version (such as 1.2.3)", current)
	}
	if pk.Kind == KindOCI {
		req, err := p.ArtifactRequest(pl, *pk)
		if err != nil {
			return nil, err
		}
		req.Digest = ""
		if now, err := cfg.artifacts.Probe(ctx, req); err == nil && now != pk.Digest {
			o.Head = now
		}
	}
	return o, nil
}

// planBumpArtifact is PlanBump for a url, maven or oci plugin: the newest version above the
// locked one, and the plugin.toml edits that move it there.
func (p *Project) planBumpArtifact(ctx context.Context, cfg *resolveConfig, pl Plugin, pk *PluginLock) (*Bump, error) {
	key := map[string]string{KindURL: "source.version", KindMaven: "source.maven", KindOCI: "source.oci"}[pk.Kind]
	if IsTemplate(pl.Source.Maven) || IsTemplate(pl.Source.OCI) {
		return nil, p.pluginErr(pl, key, "plugin %s follows the base's version; bump the base and it moves with it", pl.Name)
	}
	current, all, unlisted, err := p.artifactVersions(ctx, cfg, pl, pk)
	if err != nil {
		return nil, err
	}
	if unlisted != "" {
		return nil, p.pluginErr(pl, sourceKey(pl.Source), "plugin %s: %s; set the version by hand (see graft outdated)", pl.Name, unlisted)
	}
	b := &Bump{Plugin: pl.Name, Kind: pk.Kind, OldRef: current, NewRef: current, OldCommit: pk.Digest, NewCommit: pk.Digest}
	base, ok := parseVersion(current)
	if !ok {
		return nil, p.pluginErr(pl, key, "plugin %s: %q is not a version (such as 1.2.3); set a version by hand, then --bump can move it", pl.Name, current)
	}
	newer := newerVersions(all, base)
	if len(newer) == 0 {
		return b, nil
	}
	b.NewRef = newer[len(newer)-1]
	src := pl.Source
	switch pk.Kind {
	case KindURL:
		b.edits = []edit{{"source.version", b.NewRef}}
		src.Version = b.NewRef
	case KindMaven:
		m, _ := ParseMaven(src.Maven)
		m.Version = b.NewRef
		src.Maven = m.String()
		b.edits = []edit{{"source.maven", src.Maven}}
	case KindOCI:
		ref, err := p.ociRef(src.OCI)
		if err != nil {
			return nil, err
		}
		var ok bool
		if src.OCI, ok = ref.WithTag(b.NewRef); !ok {
			return nil, p.pluginErr(pl, key, "plugin %s: %q names no tag to move", pl.Name, pl.Source.OCI)
		}
		b.edits = []edit{{"source.oci", src.OCI}}
	}
	if src.SHA256 != "" {
		// plugin.toml pins the file: pin the new version's, after checking it is there.
		req, err := p.artifactRequest(pl, src)
		if err != nil {
			return nil, err
		}
		req.Digest = ""
		digest, err := cfg.artifacts.Probe(ctx, req)
		if err != nil {
			return nil, p.artifactErr(pl, req, err)
		}
		b.edits = append(b.edits, edit{"source.sha256", strings.TrimPrefix(digest, "sha256:")})
	}
	return b, nil
}

// edit is one plugin.toml value a bump writes.
type edit struct{ key, value string }

// ApplyBump edits plugin b.Plugin's plugin.toml in memory (see WritePluginFile) to the version
// b moves it to: ref for git, version (and sha256) for url, maven or oci for those.
func (p *Project) ApplyBump(b *Bump) error {
	if len(b.edits) == 0 {
		if b.NewRef == b.OldRef {
			return nil
		}
		return p.SetRef(b.Plugin, b.NewRef)
	}
	data := p.pluginData[b.Plugin]
	for _, e := range b.edits {
		var err error
		if data, err = EditString(p.pluginFile(b.Plugin), data, e.key, e.value); err != nil {
			return err
		}
	}
	pl, err := ParsePlugin(p.pluginFile(b.Plugin), b.Plugin, data)
	if err != nil {
		return err
	}
	*p.Plugin(b.Plugin) = *pl
	p.pluginData[b.Plugin] = data
	return nil
}

// errNotGit is Log's answer for a plugin without commits.
var errNotGit = usererr.New("not a git source: no commits to list")
