package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func blob(t *testing.T, l *Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func descriptor(l *Layer) Descriptor {
	return Descriptor{Digest: l.digest, DiffID: l.diffID, Size: l.size}
}

func TestStoredFindsALayerByItsDescriptor(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithCacheDir(dir), WithOwner(1000, 1000), WithEpoch(time.Unix(1700000000, 0))}
	made, err := New(entries(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	got := Stored(descriptor(made), false, opts...)
	if got == nil {
		t.Fatal("Stored did not find the blob New kept")
	}
	if got.digest != made.digest || got.diffID != made.diffID || !bytes.Equal(blob(t, made), blob(t, got)) {
		t.Error("the stored layer differs from the made one")
	}
	if Stored(descriptor(made), false, WithCacheDir(dir), WithLevel(1)) != nil {
		t.Error("another gzip level found the same blob")
	}
	d := descriptor(made)
	d.Size++
	if Stored(d, false, opts...) != nil {
		t.Error("a blob of another size was taken")
	}
}

func TestStoredBlobIsCheckedWhenRead(t *testing.T) {
	dir := t.TempDir()
	made, err := New(entries(), WithCacheDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-gzip6-*"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	bad := append([]byte(nil), blob(t, made)...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(files[0], bad, 0o644); err != nil {
		t.Fatal(err)
	}
	l := Stored(descriptor(made), false, WithCacheDir(dir))
	if l == nil {
		t.Fatal("same-size entry not found")
	}
	rc, _ := l.Compressed()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("tampered blob read: err = %v", err)
	}
	if err := Stored(descriptor(made), false, WithCacheDir(dir)).Check(Expect{Entries: entries()}, WithCacheDir(dir)); err == nil {
		t.Fatal("Check passed a tampered blob")
	}
}

// contentOf is a Content check that compares each file with the entries' data.
func contentOf(es []Entry) func(Entry) io.WriteCloser {
	want := map[string][]byte{}
	for _, e := range es {
		want[filepath.Clean("/"+e.Name)] = e.Data
	}
	return func(e Entry) io.WriteCloser { return &sameBytes{want: want[e.Name]} }
}

type sameBytes struct {
	want []byte
	got  bytes.Buffer
}

func (s *sameBytes) Write(p []byte) (int, error) { return s.got.Write(p) }
func (s *sameBytes) Close() error {
	if !bytes.Equal(s.got.Bytes(), s.want) {
		return errors.New("content differs")
	}
	return nil
}

// Import takes a blob only when it is exactly the layer New makes of the expected entries
// with the same options; every other blob is refused with what differs, and nothing is kept.
func TestImportRefusesEveryBlobGraftWouldNotMake(t *testing.T) {
	opts := []Option{WithRoot("/app/plugins/p"), WithOwner(1000, 1000), WithEpoch(time.Unix(1700000000, 0))}
	honest, err := New(entries(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	expect := Expect{Entries: entries(), Content: contentOf(entries()), Descriptor: descriptor(honest)}
	mk := func(t *testing.T, es []Entry, o ...Option) *Layer {
		l, err := New(es, append(append([]Option(nil), opts...), o...)...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	plus := func(e Entry) []Entry { return append(entries(), e) }
	other := entries()
	other[0].Data = []byte("y")
	cases := map[string]struct {
		blob *Layer
		edit func(*Expect)
		want string
	}{
		"/etc/passwd":         {blob: mk(t, plus(Entry{Name: "/etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root::0:0::/:/bin/sh\n")})), want: "it holds /etc/passwd"},
		"another folder":      {blob: mk(t, plus(Entry{Name: "/app/plugins/q/x", Type: tar.TypeReg, Mode: 0o644, Data: []byte("x")})), want: "it holds /app/plugins/q"},
		"another file inside": {blob: mk(t, plus(Entry{Name: "/app/plugins/p/zz", Type: tar.TypeReg, Mode: 0o644, Data: []byte("x")})), want: "it holds /app/plugins/p/zz, which graft's layer does not"},
		"missing file":        {blob: mk(t, entries()[:3]), want: "where graft's layer holds /app/plugins/p/a-b"},
		"missing last file":   {blob: mk(t, entries()[1:]), want: "it ends before /app/plugins/p/z.txt"},
		"another owner":       {blob: mk(t, entries(), WithOwner(0, 0)), want: "not the tar graft writes"},
		"another mtime":       {blob: mk(t, entries(), WithEpoch(time.Unix(1, 0))), want: "not the tar graft writes"},
		"other content":       {blob: mk(t, other), want: "z.txt: content differs"},
		"wrong diff ID":       {blob: honest, edit: func(e *Expect) { e.DiffID = zeros() }, want: "not the diff ID"},
		"wrong digest":        {blob: honest, edit: func(e *Expect) { e.Digest = zeros() }, want: "the blob's sha256"},
		"wrong size":          {blob: honest, edit: func(e *Expect) { e.Size-- }, want: "bytes, not"},
		"larger size":         {blob: honest, edit: func(e *Expect) { e.Size++ }, want: "bytes, not"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want := expect
			want.Descriptor = descriptor(c.blob)
			if c.edit != nil {
				c.edit(&want)
			}
			dir := t.TempDir()
			_, err := Import(bytes.NewReader(blob(t, c.blob)), want, append(opts, WithCacheDir(dir))...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("a refused blob left %v in the cache", left)
			}
		})
	}
	dir := t.TempDir()
	got, err := Import(bytes.NewReader(blob(t, honest)), expect, append(opts, WithCacheDir(dir))...)
	if err != nil {
		t.Fatalf("the honest blob: %v", err)
	}
	if got.file == "" || !got.trusted || Stored(descriptor(honest), false, append(opts, WithCacheDir(dir))...) == nil {
		t.Error("an imported blob is not kept like a made one")
	}
}

// zeros is a well-formed digest of nothing a layer holds.
func zeros() v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)} }

func sumOf(b []byte) v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(b))
	return h
}

// The same tar compressed by another encoder passes the tar checks, and only Recompress sees
// that the blob is not graft's (the image's digest would differ from a build from git).
func TestRecompressSeesAnotherGzipEncoding(t *testing.T) {
	opts := []Option{WithRoot("/app/plugins/p")}
	honest, err := New(entries(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := io.ReadAll(mustUncompressed(t, honest))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(tarball)
	zw.Close()
	foreign := Descriptor{Digest: sumOf(buf.Bytes()), DiffID: honest.diffID, Size: int64(buf.Len())}
	want := Expect{Entries: entries(), Content: contentOf(entries()), Descriptor: foreign}
	if _, err := Import(bytes.NewReader(buf.Bytes()), want, opts...); err != nil {
		t.Fatalf("the same tar in another gzip: %v", err)
	}
	want.Recompress = true
	if _, err := Import(bytes.NewReader(buf.Bytes()), want, opts...); err == nil || !strings.Contains(err.Error(), "compressed otherwise") {
		t.Fatalf("Recompress: err = %v", err)
	}
	want.Descriptor = descriptor(honest)
	if _, err := Import(bytes.NewReader(blob(t, honest)), want, opts...); err != nil {
		t.Fatalf("Recompress on graft's own blob: %v", err)
	}
}

func mustUncompressed(t *testing.T, l *Layer) io.Reader {
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}
