package layer

import (
	"archive/tar"
	"bytes"
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
