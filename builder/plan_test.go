package builder_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/fetch"
)

// A plan is a value: resolving once and deriving plans for other platforms or another epoch
// builds what resolving with those options builds.
func TestPlanIsAValue(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64", "linux/arm64")
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	s.Lock()
	ctx := context.Background()
	opts := []builder.Option{builder.WithCache(fetch.NewCache(t.TempDir())), builder.WithLaunchers(buildtest.Launchers(t, "amd64", "arm64"))}
	plan, err := builder.Resolve(ctx, s.Load())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan.Platforms(), ","); got != "linux/amd64,linux/arm64" {
		t.Fatalf("platforms %s", got)
	}
	epoch := time.Unix(1700000000, 0)
	arm, err := plan.WithPlatforms("linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	derived, err := arm.WithEpoch(epoch).Build(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := builder.Build(ctx, s.Load(), append(opts, builder.WithPlatforms("linux/arm64"), builder.WithSourceDateEpoch(epoch))...)
	if err != nil {
		t.Fatal(err)
	}
	if derived.Digest != direct.Digest || strings.Join(derived.Platforms, ",") != "linux/arm64" {
		t.Errorf("derived plan built %s %v, resolving with the options %s", derived.Digest, derived.Platforms, direct.Digest)
	}
	// The plan it was derived from is unchanged.
	if got := strings.Join(plan.Platforms(), ","); got != "linux/amd64,linux/arm64" {
		t.Errorf("deriving changed the plan: %s", got)
	}
	if _, ok := plan.Epoch(); ok {
		t.Error("deriving set the plan's epoch")
	}
	if _, err := plan.WithPlatforms("linux/s390x"); err == nil || !strings.Contains(err.Error(), "not in the base image") {
		t.Errorf("a platform the base lacks: %v", err)
	}
	// What is built is the plan's: Build refuses options that would change it.
	if _, err := plan.Build(ctx, append(opts, builder.WithPlatforms("linux/amd64"))...); err == nil {
		t.Error("Plan.Build took WithPlatforms")
	}
}

// The base's manifest and config are checked against their digests when the plan is resolved:
// a layout's index.json names a blob, but the file could hold anything, and the config decides
// the owner of every plugin file.
func TestResolveChecksTheBaseBlobs(t *testing.T) {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	dir := filepath.Join(s.Dir, "base")
	digest := buildtest.WriteBaseLayout(t, dir, "linux/amd64")
	s.Plugin("alpha", map[string]string{"a": "a"}, "")
	s.Lock()
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := p.Image(digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigName()
	raw, _ := img.RawConfigFile()
	swap := func(h v1.Hash, data []byte) {
		file := filepath.Join(dir, "blobs", h.Algorithm, h.Hex)
		os.Remove(file)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	swap(cfg, bytes.Replace(raw, []byte(`"kept"`), []byte(`"kepX"`), 1))
	if _, err := builder.Resolve(context.Background(), s.Load()); err == nil || !strings.Contains(err.Error(), "config "+cfg.String()+" holds other bytes") {
		t.Errorf("a base config with other bytes: %v", err)
	}
	swap(cfg, raw)
	m, _ := img.RawManifest()
	swap(digest, append(m, ' '))
	if _, err := builder.Resolve(context.Background(), s.Load()); err == nil || !strings.Contains(err.Error(), "manifest "+digest.String()+" holds other bytes") {
		t.Errorf("a base manifest with other bytes: %v", err)
	}
}
