package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// FuzzFromTar: any input either fails cleanly or gives a layer that normalizing again leaves
// byte-identical (normalization is idempotent, so BuildKit's output and graft's agree).
func FuzzFromTar(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "a/b/c", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "a/l", Typeflag: tar.TypeLink, Linkname: "a/b/c"})
	tw.WriteHeader(&tar.Header{Name: "a/s", Typeflag: tar.TypeSymlink, Linkname: "../etc"})
	tw.Close()
	f.Add(buf.Bytes(), "/a")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, data []byte, root string) {
		open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		l, err := FromTar(open, WithRoot(root), WithOwner(1, 2))
		if err != nil {
			return
		}
		again, err := FromTar(l.Uncompressed, WithRoot(root), WithOwner(1, 2))
		if err != nil {
			t.Fatalf("normalized output does not normalize again: %v", err)
		}
		d1, _ := l.Digest()
		d2, _ := again.Digest()
		if d1 != d2 {
			t.Fatalf("not idempotent: %s then %s", d1, d2)
		}
	})
}

// FuzzImport: a cache's blob, whatever it holds, is refused cleanly or is exactly the layer New
// makes of the expected entries.
func FuzzImport(f *testing.F) {
	opts := []Option{WithRoot("/app/plugins/p"), WithOwner(1000, 1000)}
	honest, err := New(entries(), opts...)
	if err != nil {
		f.Fatal(err)
	}
	rc, _ := honest.Compressed()
	blob, _ := io.ReadAll(rc)
	tr, _ := honest.Uncompressed()
	tarball, _ := io.ReadAll(tr)
	f.Add(blob)
	f.Add(blob[:len(blob)/2])
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		want := Expect{Entries: entries(), Content: contentOf(entries()), Descriptor: Descriptor{
			Digest: sumOf(data), DiffID: honest.diffID, Size: int64(len(data))}}
		if _, err := Import(bytes.NewReader(data), want, opts...); err != nil {
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, tarball) {
			t.Fatalf("imported a blob whose tar is not graft's (%v)", err)
		}
	})
}
