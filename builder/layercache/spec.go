package layercache

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/internal/usererr"
)

// Parse reads one buildx-style cache spec of --cache-from (dirKey "src") or --cache-to
// (dirKey "dest"): type=registry,ref=REF (or a bare REF) and type=local,src|dest=DIR are
// graft's layer cache as well as BuildKit's step cache; ok is false for the types only
// BuildKit reads (gha, s3, azblob, ...). Other keys (mode=max, ...) are BuildKit's.
func Parse(spec, flag, dirKey string) (s Store, ok bool, err error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, false, usererr.New("%s: empty cache spec: use type=local,%s=DIR or type=registry,ref=REF", flag, dirKey)
	}
	kv := map[string]string{}
	if !strings.Contains(spec, "=") { // buildx: a bare reference is a registry cache
		kv["type"], kv["ref"] = "registry", spec
	} else {
		for _, f := range strings.Split(spec, ",") {
			k, v, found := strings.Cut(f, "=")
			if !found {
				return nil, false, usererr.New("%s %q: %q is not key=value", flag, spec, f)
			}
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	switch kv["type"] {
	case "registry":
		if kv["ref"] == "" {
			return nil, false, usererr.New("%s %q: type=registry needs ref=REF", flag, spec)
		}
		ref, err := name.ParseReference(kv["ref"])
		if err != nil {
			return nil, false, usererr.New("%s %q: ref: %v", flag, spec, err)
		}
		if _, digest := ref.(name.Digest); digest && dirKey == "dest" {
			return nil, false, usererr.New("%s %q: a cache is written to a tag, not a digest: give ref=REPO:TAG", flag, spec)
		}
		return Registry(ref), true, nil
	case "local":
		if kv[dirKey] == "" {
			return nil, false, usererr.New("%s %q: type=local needs %s=DIR", flag, spec, dirKey)
		}
		return Local(kv[dirKey]), true, nil
	}
	return nil, false, nil
}
