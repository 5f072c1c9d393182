package buildkit

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarOf(t *testing.T, hs ...*tar.Header) func() (io.ReadCloser, error) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		data := []byte(h.Linkname)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
			data = []byte(h.Name)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(data)
		}
	}
	tw.Close()
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
}

// TestExtractPlugin: files land relative to the plugin folder with their modes; parents of the
// folder are skipped; entries elsewhere, and paths through a symlink out of the folder, are
// refused without writing outside.
func TestExtractPlugin(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "files")
	err := extractPlugin(tarOf(t,
		&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "app/plugins/x/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "app/plugins/x/bin/run.sh", Typeflag: tar.TypeReg, Mode: 0o4755},
		&tar.Header{Name: "app/plugins/x/link", Typeflag: tar.TypeSymlink, Linkname: "bin/run.sh"},
		&tar.Header{Name: "app/plugins/x/hard", Typeflag: tar.TypeLink, Linkname: "app/plugins/x/bin/run.sh"},
	), "/app/plugins/x", dest)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dest, "bin/run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("run.sh: %v %v", fi.Mode(), err)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "link")); l != "bin/run.sh" {
		t.Errorf("link -> %q", l)
	}
	if data, _ := os.ReadFile(filepath.Join(dest, "hard")); string(data) != "app/plugins/x/bin/run.sh" {
		t.Errorf("hard link content %q", data)
	}

	outside := t.TempDir()
	for name, hs := range map[string][]*tar.Header{
		"outside": {{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}},
		"symlink escape": {
			{Name: "app/plugins/x/d", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "app/plugins/x/d/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		},
	} {
		err := extractPlugin(tarOf(t, hs...), "/app/plugins/x", filepath.Join(t.TempDir(), "files"))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote outside the plugin folder: %v", entries)
	}
}

// FuzzParseCache: any spec gives an entry with a type, or one line naming the flag; never a panic.
func FuzzParseCache(f *testing.F) {
	for _, s := range []string{"type=local,dest=/c", "type=registry,ref=r/x:1,mode=max", "ref", "", ",,", "type=", "=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		e, err := parseCache(spec, "--cache-to", "dest")
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(spec, "\n") {
				t.Errorf("%q: multi-line error %q", spec, err)
			}
			if !strings.HasPrefix(err.Error(), "--cache-to") {
				t.Errorf("%q: error does not name the flag: %q", spec, err)
			}
			return
		}
		if e.Type == "" {
			t.Errorf("%q: accepted without a type", spec)
		}
		perPlugin(nil, "x")
	})
}
