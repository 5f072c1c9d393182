package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/registrytest"
)

// -t NAME (repeatable) and --push, as buildx: pushed to every name, and --push is an output,
// so the default out/image is not written.
func TestTagAndPushShorthands(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	host := registrytest.GGCR(t, false)
	code, out, errOut := graft(t, "build", "-C", s.Dir, "-t", host+"/lib/app:v1", "--tag", host+"/lib/app:latest", "--push")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	for _, ref := range []string{host + "/lib/app:v1", host + "/lib/app:latest"} {
		code, out, errOut := graft(t, "inspect", "--json", ref)
		var ir imagecontract.Report
		if code != 0 || json.Unmarshal([]byte(out), &ir) != nil || ir.Digest != digest {
			t.Errorf("%s: exit %d, %s %s (want %s)", ref, code, out, errOut, digest)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "out/image")); err == nil {
		t.Error("--push also wrote the default out/image; it is an output of its own, as in buildx")
	}
	for name, args := range map[string][]string{
		"bad tag":  {"-t", "UPPER/Case:v1"},
		"bad tar=": {"-o", "type=oci,dest=x.tar,tar=maybe"},
	} {
		code, _, errOut := graft(t, append([]string{"build", "-C", s.Dir, "--progress", "quiet"}, args...)...)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%s: exit %d, %q", name, code, errOut)
		}
	}
}

// --push without -t pushes to graft.toml's name; with neither, it is a usage error.
func TestPushNames(t *testing.T) {
	specs, def, err := (&buildopts.Build{Push: true}).OutputSpecs("registry.test/lib/app")
	if err != nil || len(specs) != 1 || specs[0] != "type=registry,name=registry.test/lib/app" || def != "registry.test/lib/app" {
		t.Fatalf("%v %q %v", specs, def, err)
	}
	if _, _, err := (&buildopts.Build{Push: true}).OutputSpecs(""); err == nil || !strings.Contains(err.Error(), "give -t NAME") {
		t.Fatalf("%v", err)
	}
	specs, def, _ = (&buildopts.Build{Tags: []string{"a/b:1"}, Outputs: []string{"type=oci,dest=x"}}).OutputSpecs("site/name")
	if len(specs) != 1 || def != "a/b:1" {
		t.Fatalf("-t without --push: %v %q", specs, def)
	}
}

func tarNames(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "index.json" {
			b, _ := io.ReadAll(tr)
			if !strings.Contains(strings.Join(strings.Fields(string(b)), ""), `"org.opencontainers.image.ref.name":"v2"`) {
				t.Errorf("index.json lacks the -t tag: %s", b)
			}
		}
	}
}

// type=oci,dest=FILE.tar writes one tar (as buildx does), the same bytes for the same image;
// a dest without .tar stays a folder; inspect takes either as a plain path.
func TestOCITarOutputAndInspectOfPlainPaths(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	out1 := filepath.Join(t.TempDir(), "image.tar")
	folder := filepath.Join(t.TempDir(), "image")
	code, out, errOut := graft(t, "build", "-C", s.Dir, "-t", "example.org/lib/app:v2", "-o", "type=oci,dest="+out1, "-o", "type=oci,dest="+folder)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	digest := lastLine(out)
	names := tarNames(t, out1)
	joined := " " + strings.Join(names, " ") + " "
	if !strings.Contains(joined, " oci-layout ") || !strings.Contains(joined, " index.json ") || !strings.Contains(joined, " blobs/sha256/") {
		t.Errorf("tar entries %v", names)
	}
	if fi, err := os.Stat(folder); err != nil || !fi.IsDir() {
		t.Fatalf("dest without .tar is not a folder: %v", err)
	}
	out2 := filepath.Join(t.TempDir(), "again.tar")
	if code, _, errOut := graft(t, "build", "-C", s.Dir, "-t", "example.org/lib/app:v2", "-o", "type=oci,dest="+out2, "--progress", "quiet"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b1, _ := os.ReadFile(out1)
	b2, _ := os.ReadFile(out2)
	if !bytes.Equal(b1, b2) {
		t.Error("two builds of one image gave different OCI tars")
	}
	// Plain paths, relative ones too: nothing is asked of a registry.
	wd, _ := os.Getwd()
	t.Chdir(filepath.Dir(folder))
	defer t.Chdir(wd)
	for _, img := range []string{"image", out1, filepath.Join(filepath.Dir(out1), "..", filepath.Base(filepath.Dir(out1)), "image.tar")} {
		code, out, errOut := graft(t, "inspect", img)
		if code != 0 || !strings.Contains(out, "digest    "+digest) || !strings.Contains(out, "image     "+img) {
			t.Errorf("inspect %s: exit %d\n%s%s", img, code, out, errOut)
		}
	}
}
