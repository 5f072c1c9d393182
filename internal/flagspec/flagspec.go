// Package flagspec parses the buildx-style specs of `graft build`'s --output, --cache-from and
// --cache-to ("type=oci,dest=DIR", "type=registry,ref=REF,mode=max"): the one place their
// syntax and the cache types' rules live, so graft's publishers, its layer cache and BuildKit
// read a spec the same way.
package flagspec

import (
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/internal/usererr"
)

// Spec is one parsed spec.
type Spec struct {
	Flag  string            // the flag it came from, for messages ("--output")
	Raw   string            // as written
	Type  string            // type=
	Attrs map[string]string // every other key
}

// Parse splits "k=v,k=v": keys and values trimmed, an empty key, a field without "=" and a key
// given twice are bad input (exit 2).
func Parse(flag, raw string) (Spec, error) {
	s := Spec{Flag: flag, Raw: raw, Attrs: map[string]string{}}
	if strings.TrimSpace(raw) == "" {
		return s, usererr.New("%s: empty spec", flag)
	}
	seen := map[string]bool{}
	for _, field := range strings.Split(raw, ",") {
		k, v, ok := strings.Cut(field, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return s, usererr.New("%s %q: %q is not key=value", flag, raw, field)
		}
		if seen[k] {
			return s, usererr.New("%s %q: %s given twice", flag, raw, k)
		}
		seen[k] = true
		if k == "type" {
			s.Type = v
		} else {
			s.Attrs[k] = v
		}
	}
	return s, nil
}

// Only refuses keys a type does not take, so a typo is not silently ignored.
func (s Spec) Only(allowed ...string) error {
	var extra []string
	for k := range s.Attrs {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return usererr.New("%s %q: unknown key %s (type=%s takes: %s)", s.Flag, s.Raw, strings.Join(extra, ", "), s.Type, strings.Join(allowed, ", "))
	}
	return nil
}

// Cache is a parsed --cache-from or --cache-to spec.
type Cache struct {
	Spec
	// Dir is type=local's folder (src= for imports, dest= for exports).
	Dir string
	// Ref is type=registry's reference.
	Ref name.Reference
}

// Layers reports whether graft's layer cache reads or writes this cache itself (registry and
// local); the other types are BuildKit's step cache only.
func (c Cache) Layers() bool { return c.Type == "registry" || c.Type == "local" }

// ParseCache reads one cache spec of --cache-from (dirKey "src") or --cache-to (dirKey
// "dest"). As in buildx, a bare reference is a registry cache. Types: registry (ref=, a tag
// for exports), local (src=/dest=), gha, s3 and azblob (handed to BuildKit as written).
// type=inline is refused: it rides in an image BuildKit pushes, and graft pushes its own.
func ParseCache(flag, raw, dirKey string) (Cache, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Cache{}, usererr.New("%s: empty cache spec: use type=local,%s=DIR or type=registry,ref=REF", flag, dirKey)
	}
	if !strings.Contains(raw, "=") {
		raw = "type=registry,ref=" + raw
	}
	s, err := Parse(flag, raw)
	if err != nil {
		return Cache{}, err
	}
	c := Cache{Spec: s}
	switch s.Type {
	case "registry":
		ref, err := name.ParseReference(s.Attrs["ref"])
		if s.Attrs["ref"] == "" || err != nil {
			return c, usererr.New("%s %q: type=registry needs ref=REF (a valid image reference)", flag, raw)
		}
		if _, digest := ref.(name.Digest); digest && dirKey == "dest" {
			return c, usererr.New("%s %q: a cache is written to a tag, not a digest: give ref=REPO:TAG", flag, raw)
		}
		c.Ref = ref
	case "local":
		if c.Dir = s.Attrs[dirKey]; c.Dir == "" {
			return c, usererr.New("%s %q: type=local needs %s=DIR", flag, raw, dirKey)
		}
	case "gha", "s3", "azblob":
		// BuildKit's: it knows their attributes.
	case "inline":
		return c, usererr.New("%s %q: type=inline needs an image BuildKit pushes, and graft pushes its own: use type=registry,ref=REF", flag, raw)
	case "":
		return c, usererr.New("%s %q: missing type=: use type=local,%s=DIR or type=registry,ref=REF", flag, raw, dirKey)
	default:
		return c, usererr.New("%s %q: unknown cache type %q: use local, registry, gha, s3 or azblob", flag, raw, s.Type)
	}
	return c, nil
}
