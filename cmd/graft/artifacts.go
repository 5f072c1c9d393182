package main

import (
	"os"
	"time"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/artifact"
)

// resolveOptions are lock, check, outdated and bump's options: parallelism, the per-source
// timeout, and graft's cache for url, maven and oci sources (so a build after a lock downloads
// nothing again).
func resolveOptions(jobs int, timeout time.Duration) ([]lockfile.ResolveOption, error) {
	dir, err := builder.DefaultCacheDir(os.Getenv)
	if err != nil {
		return nil, err
	}
	return []lockfile.ResolveOption{lockfile.WithJobs(jobs), lockfile.WithTimeout(timeout),
		lockfile.WithArtifactStore(artifact.New(dir))}, nil
}
