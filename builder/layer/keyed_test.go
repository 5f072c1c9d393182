package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

func TestLookupFindsKeyedLayerWithoutEntries(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithCacheDir(dir), WithOwner(1000, 1000), WithEpoch(time.Unix(1700000000, 0))}
	if l := Lookup("k1", opts...); l != nil {
		t.Fatal("empty cache: Lookup found a layer")
	}
	made, err := New(entries(), append(opts, WithKey("k1"))...)
	if err != nil {
		t.Fatal(err)
	}
	got := Lookup("k1", opts...)
	if got == nil {
		t.Fatal("Lookup did not find the layer New recorded")
	}
	for _, f := range []func(*Layer) (string, error){
		func(l *Layer) (string, error) { d, err := l.Digest(); return d.String(), err },
		func(l *Layer) (string, error) { d, err := l.DiffID(); return d.String(), err },
	} {
		a, _ := f(made)
		b, _ := f(got)
		if a != b {
			t.Errorf("looked up %s, made %s", b, a)
		}
	}
	if sa, _ := made.Size(); sa != int64(len(blob(t, got))) {
		t.Errorf("size %d, blob %d bytes", sa, len(blob(t, got)))
	}
	if !bytes.Equal(blob(t, made), blob(t, got)) {
		t.Error("looked-up blob differs from the made one")
	}
	// Any other option is another layer: no record.
	for name, o := range map[string]Option{"owner": WithOwner(0, 0), "epoch": WithEpoch(time.Unix(1, 0)),
		"level": WithLevel(1), "root": WithRoot("/app")} {
		if Lookup("k1", append(opts, o)...) != nil {
			t.Errorf("another %s found the same record", name)
		}
	}
	if Lookup("k2", opts...) != nil {
		t.Error("another key found the record")
	}
}

func TestLookupRefusesTamperedBlob(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithCacheDir(dir)}
	made, err := New(entries(), append(opts, WithKey("k"))...)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-gzip6-*"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v", files)
	}
	data := blob(t, made)
	// Same size, other bytes: passes the cheap check, fails on first read.
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(files[0], bad, 0o644); err != nil {
		t.Fatal(err)
	}
	l := Lookup("k", opts...)
	if l == nil {
		t.Fatal("same-size entry not found")
	}
	rc, _ := l.Compressed()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("tampered blob read: err = %v", err)
	}
	if _, err := l.Uncompressed(); err == nil {
		t.Fatal("tampered blob decompressed")
	}
	// Another size: not found at all, so the caller makes the layer again.
	if err := os.WriteFile(files[0], append(data, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if Lookup("k", opts...) != nil {
		t.Fatal("entry of another size used")
	}
	again, err := New([]Entry{{Name: "x", Type: tar.TypeReg, Data: []byte("x")}}, append(opts, WithKey("k"))...)
	if err != nil {
		t.Fatal(err)
	}
	if l := Lookup("k", opts...); l == nil || l.digest != again.digest {
		t.Fatal("a new layer under the key did not replace the record")
	}
}
