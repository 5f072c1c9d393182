package layercache

import (
	"github.com/graft-build/graft/internal/flagspec"
)

// Parse reads one cache spec of --cache-from (dirKey "src") or --cache-to (dirKey "dest")
// through flagspec, the one parser BuildKit's cache options share: type=registry and
// type=local are graft's layer cache as well as BuildKit's step cache; ok is false for the
// types only BuildKit reads (gha, s3, azblob). Other keys (mode=max, ...) are BuildKit's.
func Parse(spec, flag, dirKey string) (s Store, ok bool, err error) {
	c, err := flagspec.ParseCache(flag, spec, dirKey)
	if err != nil {
		return nil, false, err
	}
	switch c.Type {
	case "registry":
		return Registry(c.Ref), true, nil
	case "local":
		return Local(c.Dir), true, nil
	}
	return nil, false, nil
}
