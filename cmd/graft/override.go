package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
)

// parseOverrides reads --override NAME=PATH (PATH made absolute) and refuses pushing an image
// built from working folders unless --allow-override-push says so.
func parseOverrides(o *buildOpts, pubs []publish.Publisher) (map[string]string, error) {
	if len(o.Overrides) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, spec := range o.Overrides {
		name, path, ok := strings.Cut(spec, "=")
		if !ok || name == "" || path == "" {
			return nil, usererr.New("--override %q: write NAME=PATH, e.g. --override oauth=../aspace-oauth", spec)
		}
		if _, dup := out[name]; dup {
			return nil, usererr.New("--override %s is given twice; keep one", name)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("--override %s: %w", spec, err)
		}
		out[name] = abs
	}
	if o.AllowOverridePush {
		return out, nil
	}
	for _, pub := range pubs {
		if publish.Pushes(pub) {
			return nil, usererr.New("--override builds an unlocked image, which is not pushed to %s: build to a local output (type=oci, docker or daemon), "+
				"or add --allow-override-push to push it all the same", pub)
		}
	}
	return out, nil
}
