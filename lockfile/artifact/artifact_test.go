package artifact

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/artifacttest"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/registrytest"
	"github.com/graft-build/graft/internal/unpack"
)

func noEnv(string) string { return "" }

// TestCacheEntriesAreCheckedAndRemade: a changed unpacked folder is unpacked again from the
// blob; a changed blob is refused; nothing is downloaded twice.
func TestCacheEntriesAreCheckedAndRemade(t *testing.T) {
	srv := artifacttest.NewServer(t, "", "")
	srv.Put("/x.zip", artifacttest.Zip(t, map[string]artifacttest.File{"a/b.txt": {Body: "b"}, "a/run": {Body: "#!", Exec: true}}))
	s := New(t.TempDir(), WithEnv(noEnv))
	req := Request{Plugin: "x", Kind: "url", URL: srv.URL + "/x.zip", FileName: "x.zip", Extract: true, Strip: 1}
	ctx := context.Background()
	first, err := s.Get(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Fetched || len(first.Tree.Files) != 2 || first.Tree.Files[1].Path != "run" {
		t.Fatalf("first get: %+v", first)
	}
	req.Digest, req.Size, req.Tree = first.Digest, first.Size, first.Tree.Hash
	if err := os.WriteFile(filepath.Join(first.Tree.Dir, "b.txt"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := s.Get(ctx, req)
	if err != nil || again.Fetched || again.Tree.Hash != first.Tree.Hash || srv.Hits("/x.zip") != 1 {
		t.Fatalf("after tampering with the unpacked folder: %+v, %v, %d downloads", again, err, srv.Hits("/x.zip"))
	}
	data, _ := os.ReadFile(filepath.Join(again.Tree.Dir, "b.txt"))
	if string(data) != "b" {
		t.Fatalf("b.txt = %q after unpacking again", data)
	}
	// A lock whose tree is not what the file unpacks to is refused, even unpacked afresh.
	wrong := req
	wrong.Tree = strings.Repeat("0", 40)
	if _, err := s.Get(ctx, wrong); err == nil || !strings.Contains(err.Error(), "but graft.lock says "+wrong.Tree) {
		t.Fatalf("a wrong locked tree: %v", err)
	}
	// A changed blob: the unpacked folder is gone too, so the blob is read and refused.
	_, hexd, _ := strings.Cut(first.Digest, ":")
	blob := filepath.Join(s.Dir(), "blobs", "sha256", hexd)
	os.WriteFile(blob, []byte("PK\x03\x04 tampered but same size?"), 0o644)
	os.Truncate(blob, first.Size)
	os.RemoveAll(again.Tree.Dir)
	_, err = s.Get(ctx, req)
	if err == nil || !strings.Contains(err.Error(), "holds content whose sha256 is") || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("a tampered blob: %v", err)
	}
}

func TestOCIArtifactAndImageLayers(t *testing.T) {
	reg := registrytest.GGCR(t, false)
	ref := reg + "/p/art:1"
	d := artifacttest.PushArtifact(t, ref, map[string]string{"x.jar": "jar", "docs/readme.md": "doc"})
	r, err := imageref.Parse(ref, "/")
	if err != nil {
		t.Fatal(err)
	}
	s := New(t.TempDir(), WithEnv(noEnv))
	res, err := s.Get(context.Background(), Request{Plugin: "p", Kind: "oci", Ref: r})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != d.String() || len(res.Tree.Files) != 3 {
		t.Fatalf("got %+v (%d files), want digest %s", res, len(res.Tree.Files), d)
	}
	got, err := s.Probe(context.Background(), Request{Plugin: "p", Kind: "oci", Ref: r})
	if err != nil || got != d.String() {
		t.Fatalf("Probe = %s, %v", got, err)
	}
	// Pinned to another digest: refused.
	_, err = s.Get(context.Background(), Request{Plugin: "p", Kind: "oci", Ref: r, Digest: "sha256:" + strings.Repeat("0", 64)})
	if err == nil {
		t.Fatal("a digest the registry lacks was accepted")
	}
}

func TestLimitsBoundDownloads(t *testing.T) {
	srv := artifacttest.NewServer(t, "", "")
	srv.Put("/big.jar", make([]byte, 2048))
	s := New(t.TempDir(), WithEnv(noEnv), WithLimits(unpack.Limits{Bytes: 1024, Entries: 10}))
	_, err := s.Get(context.Background(), Request{Plugin: "b", Kind: "url", URL: srv.URL + "/big.jar", FileName: "big.jar"})
	if err == nil || !strings.Contains(err.Error(), "over graft's limit of 1024") {
		t.Fatalf("a file over the limit: %v", err)
	}
	var nf *NotFoundError
	_, err = s.Get(context.Background(), Request{Plugin: "b", Kind: "url", URL: srv.URL + "/nothere.jar", FileName: "nothere.jar"})
	if !errors.As(err, &nf) {
		t.Fatalf("a missing file: %v", err)
	}
}
