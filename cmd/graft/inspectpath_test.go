package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/tarx"
)

func tarOf(t testing.TB, entries map[string]string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, data := range entries {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	return b.Bytes()
}

// An OCI tar whose entries would leave the extraction folder is refused; nothing is written
// outside it, whatever the tar holds.
func FuzzExtractMeta(f *testing.F) {
	f.Add(tarOf(f, map[string]string{"oci-layout": "{}", "index.json": "{}", "blobs/sha256/ab": "x"}))
	f.Add(tarOf(f, map[string]string{"oci-layout": "{}", "../evil": "x"}))
	f.Add(tarOf(f, map[string]string{"/abs/evil": "x", "./index.json": "{}"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		outer := t.TempDir()
		file := filepath.Join(outer, "in.tar")
		os.WriteFile(file, data, 0o644)
		dir := filepath.Join(outer, "x")
		os.Mkdir(dir, 0o700)
		tarx.Extract(file, dir, maxTarMeta)
		entries, _ := os.ReadDir(outer)
		if len(entries) != 2 {
			t.Fatalf("extraction wrote beside its folder: %v", entries)
		}
	})
}

func TestExtractMetaRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "blobs/../../evil"} {
		file := filepath.Join(t.TempDir(), "in.tar")
		os.WriteFile(file, tarOf(t, map[string]string{name: "x"}), 0o644)
		if err := tarx.Extract(file, t.TempDir(), maxTarMeta); err == nil || !strings.Contains(err.Error(), "leaves the layout") {
			t.Errorf("%s: %v", name, err)
		}
	}
	file := filepath.Join(t.TempDir(), "in.tar")
	os.WriteFile(file, tarOf(t, map[string]string{"/index.json": "{}"}), 0o644)
	if err := tarx.Extract(file, t.TempDir(), maxTarMeta); err == nil {
		t.Error("an absolute entry was extracted")
	}
}
