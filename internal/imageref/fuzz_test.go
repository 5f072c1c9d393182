package imageref

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
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

// Whatever a tar holds, reading it as an OCI layout and picking its image ends in an image or
// an error, never a panic; and nothing is written anywhere (it is read where it is).
func FuzzTarLayout(f *testing.F) {
	f.Add(tarOf(f, map[string]string{"oci-layout": "{}", "index.json": `{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` +
		"a" + `","size":2}]}`}))
	f.Add(tarOf(f, map[string]string{"oci-layout": "{}", "index.json": `{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`,
		"blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a": "{}"}))
	f.Add(tarOf(f, map[string]string{"oci-layout": "{}", "../index.json": "{}", "/abs": "x"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "x.tar")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []Ref{{Kind: OCIArchive, Path: file}, {Kind: OCIArchive, Path: file, Tag: "v1"}} {
			res, err := ref.resolveLayout()
			if err == nil && res.Image != nil {
				res.Image.ConfigFile()
				res.Image.Layers()
			}
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("reading the tar wrote files: %v", entries)
		}
	})
}
