package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/graft-build/graft/internal/imageref"
)

// envRunMain makes the test binary run graft's real main (signals, exit codes) instead of
// the tests, so tests can start graft as processes of its own without building it.
const envRunMain = "GRAFT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// graftProcess is `graft args...` as a process of its own (the test binary re-executed).
func graftProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	return cmd
}

// checkLayout fails unless dir is a whole OCI layout whose image is valid and whose files
// every user can read.
func checkLayout(t *testing.T, dir string) {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	// One tagged entry: the index holding the image and its SBOM and provenance.
	if len(m.Manifests) != 1 || m.Manifests[0].Annotations[imageref.RefNameAnnotation] == "" {
		t.Fatalf("%s: index.json %+v; want one tagged entry", dir, m.Manifests)
	}
	ref, err := imageref.Parse(imageref.LayoutScheme+dir, "/")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ref.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Six builds at once to one dest, several rounds, as real processes sharing one cache: every
// one exits 0 and the dest is always a whole layout (and a whole docker tar), never missing.
func TestConcurrentBuildsToOneDest(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	dest, tarDest := filepath.Join(s.Dir, "out", "image"), filepath.Join(s.Dir, "out", "image.tar")
	const procs, rounds = 6, 10
	for round := range rounds {
		var wg sync.WaitGroup
		outs := make([]string, procs)
		errs := make([]error, procs)
		for i := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := graftProcess("build", "-C", s.Dir, "--progress", "quiet",
					"-o", "type=oci,dest=out/image", "-o", "type=docker,dest=out/image.tar").CombinedOutput()
				outs[i], errs[i] = string(b), err
			}()
		}
		wg.Wait()
		for i := range procs {
			if errs[i] != nil {
				t.Errorf("round %d, build %d: %v\n%s", round, i, errs[i], outs[i])
			}
		}
		checkLayout(t, dest)
		if _, err := tarball.ImageFromPath(tarDest, nil); err != nil {
			t.Fatalf("round %d: docker tar: %v", round, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(s.Dir, "out", ".graft-*"))
	if len(left) > 0 {
		t.Errorf("temporary folders left: %v", left)
	}
}
