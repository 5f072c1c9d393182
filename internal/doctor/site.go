package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/builder/buildkit"
	"github.com/graft-build/graft/lockfile"
)

// LoadSite loads the site in dir for the checks. A folder with no graft.toml is no site: the
// machine is reported alone (nil project, nil error); a site that does not load is reported by
// Lock (the project may be nil, the error is kept).
func LoadSite(dir string) (*lockfile.Project, error) {
	p, err := lockfile.Load(dir)
	if errors.Is(err, os.ErrNotExist) || p == nil && noSite(dir) {
		return p, nil
	}
	return p, err
}

// noSite reports whether dir holds no graft.toml.
func noSite(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lockfile.SiteFile))
	return errors.Is(err, os.ErrNotExist)
}

// ProbeBuildKit is the BuildKitProbe of a real daemon: it connects to addr and asks its
// version.
func ProbeBuildKit(ctx context.Context, addr string) (string, error) {
	e, err := buildkit.New(ctx, addr)
	if err != nil {
		return "", err
	}
	defer e.Close()
	return e.Version(), nil
}
