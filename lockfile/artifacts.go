package lockfile

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/artifact"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// WithArtifactStore fetches url, maven and oci sources through s (graft's cache); without it a
// temporary cache is used and removed when the call returns.
func WithArtifactStore(s *artifact.Store) ResolveOption {
	return func(c *resolveConfig) { c.artifacts = s }
}

// store is the artifact store of cfg, made in a temporary folder when none was given; done
// removes that folder.
func (cfg *resolveConfig) store() (*artifact.Store, func(), error) {
	if cfg.artifacts != nil {
		return cfg.artifacts, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "graft-artifacts-")
	if err != nil {
		return nil, nil, err
	}
	return artifact.New(dir, artifact.WithImageOptions(cfg.image...)), func() { os.RemoveAll(dir) }, nil
}

// archiveExts are file names unpacked unless source.extract says otherwise.
var archiveExts = []string{".zip", ".tar", ".tgz", ".tar.gz", ".tar.zst", ".tzst"}

func isArchiveName(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range archiveExts {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// fillVersion puts version into a url's {version}.
func fillVersion(u, version string) string {
	return strings.ReplaceAll(u, VersionPlaceholder, version)
}

// ArtifactRequest is how to fetch the url, maven or oci plugin pk (graft.lock's entry, whose
// url, maven and oci hold the values plugin.toml's templates gave) with pl's definition: the
// URL with graft.toml's mirrors applied, pinned to the locked digest, size and tree.
func (p *Project) ArtifactRequest(pl Plugin, pk PluginLock) (artifact.Request, error) {
	src := pl.Source
	src.URL, src.Maven, src.OCI = pk.URL, pk.Maven, pk.OCI
	if pk.Kind == KindMaven {
		src.URL = ""
	}
	req, err := p.artifactRequest(pl, src)
	if err != nil {
		return req, err
	}
	req.Digest, req.Size, req.Tree = pk.Digest, pk.Size, pk.Tree
	return req, nil
}

// artifactRequest builds the fetch of pl's url, maven or oci source src (templates rendered,
// url's {version} filled).
func (p *Project) artifactRequest(pl Plugin, src Source) (artifact.Request, error) {
	req := artifact.Request{Plugin: pl.Name, Strip: src.Strip, Path: src.Path}
	switch {
	case src.URL != "":
		src.URL = fillVersion(src.URL, src.Version)
		req.Kind, req.URL = KindURL, p.rewrite(src.URL)
		parsed, err := url.Parse(src.URL)
		if err != nil {
			return req, p.pluginErr(pl, "source.url", "%q is not a valid URL", gitremote.Redact(src.URL))
		}
		req.FileName = path.Base(parsed.Path)
		if req.FileName == "/" || req.FileName == "." || req.FileName == "" {
			return req, p.pluginErr(pl, "source.url", "%q names no file (its path is empty); give the URL of the file", gitremote.Redact(src.URL))
		}
		if src.SHA256 != "" {
			req.Digest = "sha256:" + src.SHA256
		}
	case src.Maven != "":
		m, err := ParseMaven(src.Maven)
		if err != nil {
			return req, p.pluginErr(pl, "source.maven", "%q: %v", src.Maven, err)
		}
		req.Kind, req.URL, req.FileName, req.Checksums = KindMaven, p.rewrite(m.URL(p.mavenRepository(src))), m.FileName(), true
	case src.OCI != "":
		ref, err := p.ociRef(src.OCI)
		if err != nil {
			return req, p.pluginErr(pl, "source.oci", "%v", err)
		}
		req.Kind, req.Ref = KindOCI, ref
		return req, nil
	}
	req.Extract = isArchiveName(req.FileName)
	if src.Extract != nil {
		req.Extract = *src.Extract
	}
	return req, nil
}

// ociRef parses an oci source: a short name is a registry's (Docker Hub's), as for the base.
func (p *Project) ociRef(s string) (imageref.Ref, error) {
	return imageref.Parse(s, p.Dir, imageref.ShortNamesAreRemote())
}

func (p *Project) mavenRepository(src Source) string {
	if src.Repository != "" {
		return src.Repository
	}
	return DefaultMavenRepository
}

// resolveArtifact fetches and unpacks pl's url, maven or oci source and pins it: the file's (or
// manifest's) sha256, its size, and the git tree hash of what the build installs.
func (p *Project) resolveArtifact(ctx context.Context, cfg *resolveConfig, pl Plugin, src Source) (*PluginLock, error) {
	store, done, err := cfg.store()
	if err != nil {
		return nil, err
	}
	defer done()
	req, err := p.artifactRequest(pl, src)
	if err != nil {
		return nil, err
	}
	res, err := store.Get(ctx, req)
	if err != nil {
		return nil, p.artifactErr(pl, req, err)
	}
	pk := &PluginLock{Name: pl.Name, Kind: req.Kind, Path: src.Path, Digest: res.Digest, Size: res.Size, Tree: res.Tree.Hash,
		Definition: p.PluginDigest(pl.Name)}
	switch req.Kind {
	case KindURL:
		pk.URL, pk.Version, pk.Title = fillVersion(src.URL, src.Version), src.Version, req.FileName
	case KindMaven:
		m, _ := ParseMaven(src.Maven)
		pk.Maven, pk.URL, pk.Version, pk.Title = src.Maven, m.URL(p.mavenRepository(src)), m.Version, m.FileName()
	case KindOCI:
		pk.OCI, pk.Size = src.OCI, 0
		if r, err := p.ociRef(src.OCI); err == nil && r.Kind == imageref.Registry {
			pk.Title = r.Name.Identifier()
		}
	}
	if len(res.Tree.Files) == 0 {
		return nil, p.pluginErr(pl, sourceKey(pl.Source), "plugin %s: %s holds no files (after strip and path); check path and strip", pl.Name, shownSource(req))
	}
	var top []topEntry
	for _, f := range res.Tree.Files {
		if !strings.Contains(f.Path, "/") {
			top = append(top, topEntry{f.Path, f.Mode.IsFile() && f.Mode != filemode.Symlink})
		}
	}
	dest, err := p.installDest(pl, top)
	if err != nil {
		return nil, err
	}
	pk.Dest = dest
	return pk, nil
}

// sourceKey is the plugin.toml key naming pl's source.
func sourceKey(s Source) string { return "source." + s.Type() }

func shownSource(req artifact.Request) string {
	if req.Kind == KindOCI {
		return req.Ref.String()
	}
	return gitremote.Redact(req.URL)
}

// artifactErr turns a fetch failure into bad input at the plugin.toml line it is about (a file
// that is not there, a sha256 plugin.toml pins that the server does not send), or passes it on.
func (p *Project) artifactErr(pl Plugin, req artifact.Request, err error) error {
	var nf *artifact.NotFoundError
	var mm *artifact.MismatchError
	var re *artifact.ResolveError
	switch {
	case errors.As(err, &nf):
		return p.pluginErr(pl, sourceKey(pl.Source), "plugin %s: %s is not there (HTTP 404); fix the URL, version or coordinates", pl.Name, shownSource(req))
	case errors.As(err, &mm) && pl.Source.SHA256 != "":
		return p.pluginErr(pl, "source.sha256", "%v (plugin.toml's sha256); the server sends another file: check the URL, or set sha256 to the new file's after checking it", mm)
	case errors.As(err, &re) && errors.Is(re.Err, imageref.ErrNotFound):
		return p.pluginErr(pl, "source.oci", "plugin %s: %v; fix oci or push the artifact there", pl.Name, re.Err)
	case usererr.Is(err), strings.HasPrefix(err.Error(), "plugin "+pl.Name+": "):
		return err // it names the plugin already
	}
	return fmt.Errorf("plugin %s: %w", pl.Name, err)
}

// topEntry is a name at the top of what a plugin installs.
type topEntry struct {
	name string
	file bool // a regular file (not a folder or symlink)
}

// checkArtifact compares a url, maven or oci plugin's source with the lock: the content the
// server sends now (url, maven) or the digest the tag names now (oci).
func (p *Project) checkArtifact(ctx context.Context, cfg *resolveConfig, pl Plugin, old *PluginLock) ([]Drift, error) {
	src, err := p.lockedSource(pl)
	if err != nil {
		return nil, err
	}
	if old != nil && old.Definition == p.PluginDigest(pl.Name) && pl.Source.SHA256 != "" {
		return nil, nil // plugin.toml pins the content itself, like a full commit SHA
	}
	req, err := p.artifactRequest(pl, src)
	if err != nil {
		return nil, err
	}
	now, err := cfg.artifacts.Probe(ctx, req)
	if err != nil {
		return nil, p.artifactErr(pl, req, err)
	}
	ref := req.Kind + " " + shownSource(req)
	switch {
	case old == nil:
		return []Drift{{Plugin: pl.Name, What: "added", Ref: ref, New: now}}, nil
	case old.Definition != p.PluginDigest(pl.Name):
		return []Drift{{Plugin: pl.Name, What: "definition-changed", Ref: ref, Old: old.Digest, New: now}}, nil
	case old.Digest != now:
		return []Drift{{Plugin: pl.Name, What: "content-changed", Ref: ref, Old: old.Digest, New: now}}, nil
	}
	return nil, nil
}

// artifactName is what a url, maven or oci plugin was fetched as: its URL (no credentials),
// coordinates or reference.
func artifactName(pk PluginLock) string {
	switch pk.Kind {
	case KindMaven:
		return pk.Maven
	case KindOCI:
		return pk.OCI
	}
	return gitremote.Redact(pk.URL)
}

// SourceName is what a url, maven or oci plugin was fetched as: its URL (no credentials),
// coordinates or reference; a git plugin's repository URL (no credentials).
func (pk PluginLock) SourceName() string {
	if pk.IsArtifact() {
		return artifactName(pk)
	}
	return gitremote.Redact(pk.Git)
}
