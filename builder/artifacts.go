package builder

import (
	"os"
	"path/filepath"

	"github.com/graft-build/graft/lockfile/artifact"
)

// WithArtifactStore fetches url, maven and oci plugins through s (default: one under
// DefaultCacheDir, with the base's registry options).
func WithArtifactStore(s *artifact.Store) Option { return func(o *options) { o.artifacts = s } }

// artifactStore is the build's store for url, maven and oci plugins, made on first use.
func (o *options) artifactStore() *artifact.Store {
	o.artifactsOnce.Do(func() {
		if o.artifacts != nil {
			return
		}
		dir, err := DefaultCacheDir()
		if err != nil {
			dir = filepath.Join(os.TempDir(), "graft-cache") // no home folder: a machine-wide temporary one
		}
		o.artifacts = artifact.New(dir, artifact.WithImageOptions(o.resolve...))
	})
	return o.artifacts
}
