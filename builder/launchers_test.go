package builder_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
)

func TestLaunchersLookupOrderAndMissingPlatform(t *testing.T) {
	built := buildtest.LauncherDir(t, "amd64", "arm64")
	real, err := os.ReadFile(filepath.Join(built, "graft-launcher-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	realArm, err := os.ReadFile(filepath.Join(built, "graft-launcher-linux-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	override := t.TempDir()
	os.WriteFile(filepath.Join(override, "graft-launcher-linux-arm64"), realArm, 0o755)
	l := builder.Launchers{
		Override: []string{override},
		FS:       fstest.MapFS{"graft-launcher-linux-arm64": {Data: []byte("embedded")}, "graft-launcher-linux-amd64": {Data: real}},
		Dirs:     []string{t.TempDir()},
	}
	data, _, err := l.Launcher(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	if err != nil || string(data) != string(realArm) {
		t.Fatalf("arm64/v8: %d bytes, %v; want the override, found without the variant", len(data), err)
	}
	data, ver, err := l.Launcher(v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil || len(data) != len(real) || ver == "" || ver == "unknown" {
		t.Fatalf("amd64 from the embedded set: %d bytes, version %q, %v", len(data), ver, err)
	}
	_, _, err = l.Launcher(v1.Platform{OS: "linux", Architecture: "s390x"})
	if err == nil || !strings.Contains(err.Error(), "GOARCH=s390x go build") || !strings.Contains(err.Error(), "GRAFT_LAUNCHER_DIR") {
		t.Fatalf("missing platform: %v", err)
	}
}

type fixedSource []byte

func (f fixedSource) Launcher(v1.Platform) ([]byte, string, error) { return f, "ignored", nil }

// The fallback (graft's toolchain build) is asked last, and what it gives is checked too.
func TestLaunchersFallback(t *testing.T) {
	built := buildtest.LauncherDir(t, "amd64")
	real, err := os.ReadFile(filepath.Join(built, "graft-launcher-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	l := builder.Launchers{FS: fstest.MapFS{}, Dirs: []string{t.TempDir()}, Fallback: fixedSource(real)}
	data, ver, err := l.Launcher(v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil || len(data) != len(real) || ver != "ignored" {
		t.Fatalf("fallback: %d bytes, version %q (want the fallback's), %v", len(data), ver, err)
	}
	if _, _, err := l.Launcher(v1.Platform{OS: "linux", Architecture: "arm64"}); err == nil || !strings.Contains(err.Error(), "built for amd64") {
		t.Fatalf("fallback's wrong-arch binary: %v", err)
	}
}

// A release records its launchers' version beside them (a -trimpath build keeps no -ldflags to
// read -X back from): the version file of the set the binary came from wins.
func TestLaunchersVersionFile(t *testing.T) {
	built := buildtest.LauncherDir(t, "amd64")
	real, err := os.ReadFile(filepath.Join(built, "graft-launcher-linux-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "graft-launcher-linux-amd64"), real, 0o755)
	os.WriteFile(filepath.Join(dir, "graft-launcher-linux-amd64"+builder.LauncherVersionSuffix), []byte("v1.2.3\n"), 0o644)
	amd := v1.Platform{OS: "linux", Architecture: "amd64"}
	if _, v, err := (builder.Launchers{Dirs: []string{dir}}).Launcher(amd); err != nil || v != "v1.2.3" {
		t.Fatalf("dir: %q %v", v, err)
	}
	embedded := fstest.MapFS{"graft-launcher-linux-amd64": {Data: real}, "graft-launcher-linux-amd64.version": {Data: []byte("v2.0.0\n")}}
	// The embedded binary wins over Dirs, and with it its own version file.
	if _, v, err := (builder.Launchers{FS: embedded, Dirs: []string{dir}}).Launcher(amd); err != nil || v != "v2.0.0" {
		t.Fatalf("embedded: %q %v", v, err)
	}
	// Without one: the build info ("devel" for a checkout's launcher); a junk file is ignored.
	embedded["graft-launcher-linux-amd64.version"] = &fstest.MapFile{Data: []byte("not a version\n")}
	if _, v, err := (builder.Launchers{FS: embedded}).Launcher(amd); err != nil || v == "not a version" || v == "" {
		t.Fatalf("junk version file: %q %v", v, err)
	}
}
