package buildkit

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client"

	"github.com/graft-build/graft/internal/flagspec"
)

// parseCache reads one buildx-style cache spec (flagspec, the parser graft's layer cache
// shares). dirKey is "src" for imports, "dest" for exports.
func parseCache(spec, flag, dirKey string) (client.CacheOptionsEntry, error) {
	c, err := flagspec.ParseCache(flag, spec, dirKey)
	if err != nil {
		return client.CacheOptionsEntry{}, err
	}
	return client.CacheOptionsEntry{Type: c.Type, Attrs: maps.Clone(c.Attrs)}, nil
}

// perPlugin gives every plugin and platform its own entry in a shared cache location: each
// plugin is a separate solve, and one solve's export replaces the entry it writes, so a single
// entry would only ever hold the last plugin's steps. Local caches get the tag
// graft-<plugin>-<platform> in the folder's index.json; registry caches get a tag of
// <tag>-<plugin>-<platform> in the given repository; gha a scope, s3 and azblob a name of
// graft-<plugin>-<platform>. A tag, scope or name the user chose is kept as given.
func perPlugin(entries []client.CacheOptionsEntry, key string) []client.CacheOptionsEntry {
	out := make([]client.CacheOptionsEntry, 0, len(entries))
	for _, e := range entries {
		e.Attrs = maps.Clone(e.Attrs)
		switch e.Type {
		case "local":
			if _, ok := e.Attrs["tag"]; !ok {
				e.Attrs["tag"] = tagSafe("graft-" + key)
			}
		case "registry":
			e.Attrs["ref"] = registryKey(e.Attrs["ref"], key)
		case "gha":
			setDefault(e.Attrs, "scope", tagSafe("graft-"+key))
		case "s3", "azblob":
			setDefault(e.Attrs, "name", tagSafe("graft-"+key))
		}
		out = append(out, e)
	}
	return out
}

func setDefault(attrs map[string]string, k, v string) {
	if _, ok := attrs[k]; !ok {
		attrs[k] = v
	}
}

func registryKey(ref, key string) string {
	t, err := name.NewTag(ref)
	if err != nil { // a digest reference: nothing to suffix; checked by parseCache already
		return ref
	}
	return t.Context().Tag(tagSafe(t.TagStr() + "-" + key)).String()
}

var tagUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// tagSafe makes s a valid tag: allowed characters only, at most 128 of them (a long name keeps
// a hash of the whole so two long names stay distinct).
func tagSafe(s string) string {
	s = tagUnsafe.ReplaceAllString(s, "-")
	if len(s) > 128 {
		sum := sha256.Sum256([]byte(s))
		s = s[:111] + "-" + hex.EncodeToString(sum[:8])
	}
	return s
}
