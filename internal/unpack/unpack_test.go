package unpack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/graft-build/graft/internal/usererr"
)

type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
	size             int64 // header size when not len(body)
}

func makeTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if e.size != 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil && e.size == 0 {
			t.Fatal(err)
		}
	}
	tw.Flush() // no Close: a header claiming more than the body is left unfinished on purpose
	return buf.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

// extract unpacks data (format sniffed) into a fresh folder and returns it with the error.
func extract(t testing.TB, data []byte, o Options) (string, error) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "archive")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.Shown = "test.archive"
	x, err := New(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	head := data[:min(len(data), 512)]
	return dir, x.Archive(f, int64(len(data)), Sniff(head))
}

// listing is every path under dir with its type, mode and content.
func listing(t testing.TB, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := os.Lstat(p)
		switch {
		case d.IsDir():
			out = append(out, rel+"/")
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		default:
			data, _ := os.ReadFile(p)
			out = append(out, rel+" "+info.Mode().Perm().String()+" "+string(data))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestTarGzStripPathModesLinks(t *testing.T) {
	data := gz(t, makeTar(t,
		tarEntry{name: "pkg-1.0/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "pkg-1.0/README", body: "top"},
		tarEntry{name: "./pkg-1.0/plugin/bin/run.sh", body: "#!/bin/sh", mode: 0o755},
		tarEntry{name: "pkg-1.0/plugin/lib/a.rb", body: "a"},
		tarEntry{name: "pkg-1.0/plugin/lib/b.rb", typ: tar.TypeLink, link: "pkg-1.0/plugin/lib/a.rb"},
		tarEntry{name: "pkg-1.0/plugin/current", typ: tar.TypeSymlink, link: "lib/a.rb"},
		tarEntry{name: "pkg-1.0/plugin/empty/", typ: tar.TypeDir},
	))
	dir, err := extract(t, data, Options{Strip: 1, Path: "plugin"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(listing(t, dir), "\n")
	want := strings.Join([]string{"bin/", "bin/run.sh -rwxr-xr-x #!/bin/sh", "current -> lib/a.rb", "empty/", "lib/",
		"lib/a.rb -rw-r--r-- a", "lib/b.rb -rw-r--r-- a"}, "\n")
	if got != want {
		t.Errorf("unpacked:\n%s\nwant:\n%s", got, want)
	}
}

func TestZipAndSingleFile(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("top/a.txt")
	w.Write([]byte("hello"))
	h := &zip.FileHeader{Name: "top/run", Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ = zw.CreateHeader(h)
	w.Write([]byte("exec"))
	zw.Close()
	dir, err := extract(t, buf.Bytes(), Options{Strip: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listing(t, dir), "|"); got != "a.txt -rw-r--r-- hello|run -rwxr-xr-x exec" {
		t.Errorf("zip unpacked as %s", got)
	}

	dir = t.TempDir()
	x, _ := New(dir, Options{Shown: "f"})
	if err := x.File("oauth.jar", strings.NewReader("jar"), 3); err != nil {
		t.Fatal(err)
	}
	x.Close()
	if got := strings.Join(listing(t, dir), "|"); got != "oauth.jar -rw-r--r-- jar" {
		t.Errorf("file written as %s", got)
	}
}

func TestHostileArchivesRefused(t *testing.T) {
	small := Limits{Bytes: 1 << 20, Entries: 10}
	cases := []struct {
		name    string
		entries []tarEntry
		limits  Limits
		want    string
	}{
		{"dotdot", []tarEntry{{name: "a/../../etc/passwd", body: "x"}}, small, `climbs out`},
		{"absolute", []tarEntry{{name: "/etc/passwd", body: "x"}}, small, "absolute path"},
		{"symlink out", []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "../../etc"}}, small, "leaves the plugin's folder"},
		{"symlink absolute", []tarEntry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, small, "absolute path"},
		{"through symlink", []tarEntry{{name: "d/", typ: tar.TypeDir}, {name: "l", typ: tar.TypeSymlink, link: "d"}, {name: "l/x", body: "x"}}, small, `through the symlink "l"`},
		{"through file", []tarEntry{{name: "f", body: "x"}, {name: "f/x", body: "x"}}, small, `which is a file`},
		{"hardlink out", []tarEntry{{name: "h", typ: tar.TypeLink, link: "../../etc/passwd"}}, small, "climbs out"},
		{"hardlink missing", []tarEntry{{name: "h", typ: tar.TypeLink, link: "nothere"}}, small, "not a file written before it"},
		{"device", []tarEntry{{name: "dev", typ: tar.TypeChar}}, small, "is a device"},
		{"fifo", []tarEntry{{name: "p", typ: tar.TypeFifo}}, small, "named pipe"},
		{"git", []tarEntry{{name: "x/.GIT/config", body: "x"}}, small, ".git"},
		{"duplicate", []tarEntry{{name: "a", body: "1"}, {name: "a", body: "2"}}, small, "appears twice"},
		{"header bomb", []tarEntry{{name: "zeros", size: 5 << 30}}, DefaultLimits, "more than 4294967296 bytes"},
		{"total bomb", []tarEntry{{name: "a", body: strings.Repeat("x", 600<<10)}, {name: "b", body: strings.Repeat("x", 600<<10)}}, small, "more than 1048576 bytes"},
		{"entry bomb", func() []tarEntry {
			var es []tarEntry
			for i := range 11 {
				es = append(es, tarEntry{name: strings.Repeat("a", i+1)})
			}
			return es
		}(), small, "more than 10 entries"},
		{"truncated", []tarEntry{{name: "a", size: 100}}, small, "truncated"},
		{"backslash", []tarEntry{{name: `..\evil`, body: "x"}}, small, "backslash"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, err := extract(t, gz(t, makeTar(t, c.entries...)), Options{Limits: c.limits})
			if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line of bad input containing %q", err, c.want)
			}
			for _, l := range listing(t, dir) {
				if strings.Contains(l, "passwd") || strings.Contains(l, "etc") {
					t.Errorf("wrote %s", l)
				}
			}
		})
	}
}

func TestZipLyingAboutSize(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	body := []byte(strings.Repeat("z", 100))
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "a", Method: zip.Store, CompressedSize64: 100, UncompressedSize64: 10, CRC32: crc32.ChecksumIEEE(body)})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	zw.Close()
	_, err = extract(t, buf.Bytes(), Options{})
	if err == nil || !strings.Contains(err.Error(), `entry "a"`) {
		t.Fatalf("err = %v, want the entry refused", err)
	}
}

func TestOverlayWhiteouts(t *testing.T) {
	dir := t.TempDir()
	x, _ := New(dir, Options{Shown: "layers", Overlay: true})
	defer x.Close()
	l1 := makeTar(t, tarEntry{name: "a/1", body: "1"}, tarEntry{name: "a/2", body: "2"}, tarEntry{name: "b/3", body: "3"}, tarEntry{name: "c", body: "old"})
	l2 := makeTar(t, tarEntry{name: "a/.wh.1"}, tarEntry{name: "b/.wh..wh..opq"}, tarEntry{name: "b/4", body: "4"}, tarEntry{name: "c", body: "new"})
	for _, l := range [][]byte{l1, l2} {
		if err := x.Tar(bytes.NewReader(l)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(listing(t, dir), "|"); got != "a/|a/2 -rw-r--r-- 2|b/|b/4 -rw-r--r-- 4|c -rw-r--r-- new" {
		t.Errorf("layers gave %s", got)
	}
}

func TestSniff(t *testing.T) {
	tarData := makeTar(t, tarEntry{name: "a", body: "x"})
	for _, c := range []struct {
		data []byte
		want Format
	}{{tarData, Tar}, {gz(t, tarData), Gzip}, {[]byte("PK\x03\x04...."), Zip}, {[]byte("\x28\xb5\x2f\xfdxx"), Zstd}, {[]byte("plain"), Unknown}} {
		if got := Sniff(c.data); got != c.want {
			t.Errorf("Sniff(%q...) = %v, want %v", c.data[:min(8, len(c.data))], got, c.want)
		}
	}
}

// FuzzUnpack feeds arbitrary bytes as each format: extraction must never panic, never write
// outside the folder, never leave a symlink that leaves it, and keep within its limits.
func FuzzUnpack(f *testing.F) {
	f.Add(makeTar(f, tarEntry{name: "a/b", body: "x"}, tarEntry{name: "l", typ: tar.TypeSymlink, link: "a/b"}))
	f.Add(gz(f, makeTar(f, tarEntry{name: "../x", body: "x"})))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("d/f")
	w.Write([]byte("data"))
	zw.Close()
	f.Add(buf.Bytes())
	limits := Limits{Bytes: 1 << 20, Entries: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		outer := t.TempDir()
		dir := filepath.Join(outer, "dest")
		os.Mkdir(dir, 0o755)
		for _, format := range []Format{Tar, Zip, Gzip, Sniff(data)} {
			os.RemoveAll(dir)
			os.Mkdir(dir, 0o755)
			file := filepath.Join(outer, "in")
			os.WriteFile(file, data, 0o644)
			in, _ := os.Open(file)
			x, _ := New(dir, Options{Shown: "fuzz", Limits: limits, Strip: int(len(data) % 2)})
			_ = x.Archive(in, int64(len(data)), format)
			x.Close()
			in.Close()
			var total int64
			filepath.WalkDir(outer, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != outer && p != dir && p != file && !strings.HasPrefix(p, dir+"/") {
					t.Fatalf("wrote %s outside the folder", p)
				}
				info, _ := os.Lstat(p)
				if info.Mode()&fs.ModeSymlink != 0 {
					target, _ := os.Readlink(p)
					resolved := filepath.Join(filepath.Dir(p), target)
					if filepath.IsAbs(target) || !strings.HasPrefix(resolved, dir) {
						t.Fatalf("symlink %s -> %s leaves the folder", p, target)
					}
				}
				if info.Mode().IsRegular() && strings.HasPrefix(p, dir+"/") {
					total += info.Size()
				}
				return nil
			})
			if total > limits.Bytes {
				t.Fatalf("wrote %d bytes, over the limit %d", total, limits.Bytes)
			}
		}
	})
}
