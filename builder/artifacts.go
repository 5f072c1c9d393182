package builder

import (
	"os"
	"path/filepath"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/artifact"
)

// WithArtifactStore fetches url, maven and oci plugins through s (default: one under
// DefaultCacheDir, with the plan's registry options).
func WithArtifactStore(s *artifact.Store) Option { return func(o *options) { o.artifacts = s } }

// artifactStore is the build's store for url, maven and oci plugins, made on first use with
// the plan's registry options.
func (o *options) artifactStore(resolve []imageref.Option) *artifact.Store {
	o.artifactsOnce.Do(func() {
		if o.artifacts != nil {
			return
		}
		dir, err := DefaultCacheDir(os.Getenv)
		if err != nil {
			dir = filepath.Join(os.TempDir(), "graft-cache") // no home folder: a machine-wide temporary one
		}
		o.artifacts = artifact.New(dir, artifact.WithImageOptions(resolve...))
	})
	return o.artifacts
}

// checkBaseVersion compares graft.lock's base version (what [compat] and refs following the
// base were checked against) with the version the base image itself carries.
func checkBaseVersion(p *lockfile.Project, ref imageref.Ref, res *imageref.Resolved) error {
	if p.Lock.Base.Version == "" {
		return nil
	}
	v, err := p.ReadBaseVersion(ref, res)
	if err != nil {
		return err
	}
	if v != p.Lock.Base.Version {
		return usererr.New("%s: base.version is %s, but the base image says %s; graft.lock was edited by hand or is damaged: run `graft lock`",
			lockfile.LockFile, p.Lock.Base.Version, v)
	}
	return nil
}
