package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func entries() []Entry {
	return []Entry{
		{Name: "/app/plugins/p/z.txt", Type: tar.TypeReg, Mode: 0o644, Data: []byte("z")},
		{Name: "app/plugins/p/bin/run.sh", Type: tar.TypeReg, Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Name: "/app/plugins/p/link", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "z.txt"},
		{Name: "/app/plugins/p/a-b", Type: tar.TypeReg, Mode: 0o644, Data: []byte("ab")},
	}
}

func headers(t *testing.T, l *Layer) []*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var hs []*tar.Header
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

func TestNewIsDeterministicSortedAndOwned(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	opts := []Option{WithEpoch(epoch), WithOwner(1000, 1001), WithRoot("/app/plugins/p")}
	a, err := New(entries(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	rev := entries()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	b, err := New(rev, opts...)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("same entries in another order gave %s and %s", da, db)
	}
	var names []string
	for _, h := range headers(t, a) {
		names = append(names, h.Name)
		if h.Uid != 1000 || h.Gid != 1001 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 1000:1001 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(epoch) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v %v %v", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
	}
	// The root is explicit; its parents belong to the base and are not in the layer.
	want := "app/plugins/p/ app/plugins/p/a-b app/plugins/p/bin/ app/plugins/p/bin/run.sh app/plugins/p/link app/plugins/p/z.txt"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("entries:\n got %s\nwant %s", got, want)
	}
}

func TestOptionsChangeDigest(t *testing.T) {
	base, _ := New(entries())
	d0, _ := base.Digest()
	for name, opt := range map[string]Option{
		"epoch": WithEpoch(time.Unix(5, 0)), "owner": WithOwner(1, 1), "level": WithLevel(1),
	} {
		l, err := New(entries(), opt)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := l.Digest(); d == d0 {
			t.Errorf("%s did not change the digest", name)
		}
	}
	l, _ := New(entries(), WithMediaType(types.DockerLayer))
	if mt, _ := l.MediaType(); mt != types.DockerLayer {
		t.Errorf("media type %s", mt)
	}
}

func TestFromTarNormalizes(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	write := func(h *tar.Header, data string) {
		h.ModTime, h.Uname, h.Gname = now, "someone", "staff"
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	// A base directory touched by a build step, a file below the root, and a hard link whose
	// target sorts after it.
	write(&tar.Header{Name: "usr/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 0}, "")
	write(&tar.Header{Name: "usr/lib/x.so", Typeflag: tar.TypeReg, Mode: 0o644, Uid: 0}, "elf")
	write(&tar.Header{Name: "app/p/zz", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 7}, "data")
	write(&tar.Header{Name: "app/p/aa", Typeflag: tar.TypeLink, Linkname: "app/p/zz"}, "")
	tw.Close()
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
	l, err := FromTar(open, WithRoot("/app/p"), WithOwner(1000, 1000), WithEpoch(time.Unix(10, 0)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range headers(t, l.(*Layer)) {
		got = append(got, h.Name+"|"+string(h.Typeflag)+"|"+h.Linkname+"|"+strconv.Itoa(h.Uid))
		if h.Uname != "" || !h.ModTime.Equal(time.Unix(10, 0)) {
			t.Errorf("%s not normalized: %q %v", h.Name, h.Uname, h.ModTime)
		}
	}
	want := []string{"app/p/|5||1000", "app/p/aa|0||1000", "app/p/zz|1|app/p/aa|1000", "usr/|5||0", "usr/lib/x.so|0||0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("entries:\n got %v\nwant %v", got, want)
	}
}

func TestHardLinkToMissingTargetFails(t *testing.T) {
	_, err := New([]Entry{{Name: "a", Type: tar.TypeLink, Linkname: "missing"}})
	if err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("err = %v", err)
	}
}

func TestCacheDirSkipsCompressionAndRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	a, err := New(entries(), WithCacheDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-gzip6-*"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	if !strings.HasSuffix(files[0], "-"+compressorVersion()) {
		t.Fatalf("cache entry %s is not named by the compressor version %s", files[0], compressorVersion())
	}
	b, err := New(entries(), WithCacheDir(dir), WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("from cache %s, made %s", db, da)
	}
	if mt, _ := b.MediaType(); mt != types.DockerLayer {
		t.Errorf("media type %s from the cache", mt)
	}
	// A damaged entry (other valid gzip content under this name) is not used.
	other, _ := New([]Entry{{Name: "x", Type: tar.TypeReg, Data: []byte("other")}})
	rc, _ := other.Compressed()
	data, _ := io.ReadAll(rc)
	if err := os.WriteFile(files[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(entries(), WithCacheDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc != da {
		t.Fatalf("damaged cache entry used: %s, want %s", dc, da)
	}
}
