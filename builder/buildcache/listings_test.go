package buildcache

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// encode stores a git object as git would, and returns its bytes and hash.
func encode(t testing.TB, o interface {
	Encode(plumbing.EncodedObject) error
}) ([]byte, plumbing.Hash) {
	m := &plumbing.MemoryObject{}
	if err := o.Encode(m); err != nil {
		t.Fatal(err)
	}
	r, _ := m.Reader()
	data, _ := io.ReadAll(r)
	return data, m.Hash()
}

// repo is a commit whose tree holds plugins/alpha/{a.txt, bin/run (executable), link -> a.txt}.
type repo struct {
	listing Listing
	spec    ListingSpec
}

func newRepo(t testing.TB) repo {
	blob := func(s string) plumbing.Hash { return plumbing.ComputeHash(plumbing.BlobObject, []byte(s)) }
	bin := &object.Tree{Entries: []object.TreeEntry{{Name: "run", Mode: filemode.Executable, Hash: blob("#!/bin/sh\n")}}}
	_, binHash := encode(t, bin)
	alpha := &object.Tree{Entries: []object.TreeEntry{
		{Name: "a.txt", Mode: filemode.Regular, Hash: blob("alpha")},
		{Name: "bin", Mode: filemode.Dir, Hash: binHash},
		{Name: "link", Mode: filemode.Symlink, Hash: blob("a.txt")},
	}}
	_, alphaHash := encode(t, alpha)
	plugins := &object.Tree{Entries: []object.TreeEntry{{Name: "alpha", Mode: filemode.Dir, Hash: alphaHash}}}
	pluginsRaw, pluginsHash := encode(t, plugins)
	root := &object.Tree{Entries: []object.TreeEntry{{Name: "plugins", Mode: filemode.Dir, Hash: pluginsHash}}}
	rootRaw, rootHash := encode(t, root)
	when := time.Unix(1700000000, 0).UTC()
	sig := object.Signature{Name: "t", Email: "t@example.org", When: when}
	commitRaw, commitHash := encode(t, &object.Commit{Author: sig, Committer: sig, Message: "m\n", TreeHash: rootHash})
	return repo{
		listing: Listing{CommitTime: when, Commit: commitRaw, Trees: [][]byte{rootRaw, pluginsRaw}, Files: []File{
			{Path: "a.txt", Mode: 0o100644, ID: blob("alpha").String()},
			{Path: "bin", Mode: 0o040000, ID: binHash.String()},
			{Path: "bin/run", Mode: 0o100755, ID: blob("#!/bin/sh\n").String()},
			{Path: "link", Mode: 0o120000, ID: blob("a.txt").String(), Link: "a.txt"},
		}},
		spec: ListingSpec{Commit: commitHash.String(), Tree: alphaHash.String(), Path: "plugins/alpha"},
	}
}

// A listing is proven against the lock; every lie about it is refused, saying what.
func TestCheckListingRefusesEveryLie(t *testing.T) {
	r := newRepo(t)
	if err := checkListing(r.listing, r.spec); err != nil {
		t.Fatalf("the honest listing: %v", err)
	}
	other := plumbing.ComputeHash(plumbing.BlobObject, []byte("evil")).String()
	cases := map[string]struct {
		edit func(l *Listing, s *ListingSpec)
		want string
	}{
		"another commit": {func(_ *Listing, s *ListingSpec) { s.Commit = strings.Repeat("1", 40) }, "is not commit"},
		"commit time":    {func(l *Listing, _ *ListingSpec) { l.CommitTime = l.CommitTime.Add(time.Hour) }, "it says commit"},
		"another tree":   {func(_ *Listing, s *ListingSpec) { s.Tree = strings.Repeat("2", 40) }, "not the locked"},
		"another path":   {func(_ *Listing, s *ListingSpec) { s.Path = "plugins/beta" }, `"beta" is not a folder`},
		"a missing tree": {func(l *Listing, _ *ListingSpec) { l.Trees = l.Trees[:1] }, "holds 1 trees"},
		"a swapped tree": {func(l *Listing, _ *ListingSpec) { l.Trees[0], l.Trees[1] = l.Trees[1], l.Trees[0] }, "is not tree"},
		"an extra file": {func(l *Listing, _ *ListingSpec) {
			l.Files = append(l.Files, File{Path: "evil.sh", Mode: 0o100755, ID: other})
		}, "make tree"},
		"a missing file":     {func(l *Listing, _ *ListingSpec) { l.Files = l.Files[1:] }, "make tree"},
		"another blob":       {func(l *Listing, _ *ListingSpec) { l.Files[0].ID = other }, "make tree"},
		"another mode":       {func(l *Listing, _ *ListingSpec) { l.Files[0].Mode = 0o100755 }, "make tree"},
		"another link":       {func(l *Listing, _ *ListingSpec) { l.Files[3].Link = "/etc/passwd" }, "its link target is not blob"},
		"a folder's content": {func(l *Listing, _ *ListingSpec) { l.Files[2].ID = other }, "its entries in bin make tree"},
		"a file in no folder": {func(l *Listing, _ *ListingSpec) {
			l.Files = append(l.Files, File{Path: "lib/x", Mode: 0o100644, ID: other})
		}, "does not list as a folder"},
		"a name climbing out": {func(l *Listing, _ *ListingSpec) { l.Files[0].Path = "../a.txt" }, "graft never installs"},
		"absolute":            {func(l *Listing, _ *ListingSpec) { l.Files[0].Path = "/etc/passwd" }, "not a clean relative path"},
		".git":                {func(l *Listing, _ *ListingSpec) { l.Files[0].Path = ".Git" }, "graft never installs"},
		"twice":               {func(l *Listing, _ *ListingSpec) { l.Files = append(l.Files, l.Files[0]) }, "twice"},
		"a device mode":       {func(l *Listing, _ *ListingSpec) { l.Files[0].Mode = 0o020644 }, "mode"},
		"a bad object ID":     {func(l *Listing, _ *ListingSpec) { l.Files[0].ID = "xyz" }, "object ID"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t)
			c.edit(&r.listing, &r.spec)
			if err := checkListing(r.listing, r.spec); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// Whatever an index holds, checking it never panics, and what passes is the locked tree.
func FuzzCheckListing(f *testing.F) {
	r := newRepo(f)
	honest, _ := json.Marshal(r.listing)
	f.Add(honest)
	f.Add([]byte(`{"commit":"","files":[{"path":"a","mode":33188,"id":"` + strings.Repeat("0", 40) + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l Listing
		if json.Unmarshal(data, &l) != nil {
			return
		}
		if checkListing(l, r.spec) == nil {
			if got, err := treeOf(l.Files); err != nil || got.String() != r.spec.Tree {
				t.Fatalf("passed a listing of tree %s (%v)", got, err)
			}
		}
	})
}
