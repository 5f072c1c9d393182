package buildkit

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/layer"
	"github.com/graft-build/graft/internal/usererr"
)

// TestFailingStep: the error names the plugin, the command, its exit code and the end of its
// output.
func TestFailingStep(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	e := newEngine(t, d.Addr)
	p := testPlugin{name: "broken", files: map[string]string{"plugin.toml": ""}, build: contract.Steps{
		Run: []string{"true", "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo line $i; done; echo gem install $((40+2)) failed >&2; exit 3"},
	}}
	_, err := run(t, e, p.request(t, base.layout, base, nil))
	if err == nil {
		t.Fatal("a failing step succeeded")
	}
	msg := err.Error()
	t.Logf("error:\n%s", msg)
	for _, want := range []string{"plugin broken", "build step 2/2", `"for i in 1 2`, "exit code 3", "    gem install 42 failed", "    line 20"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, "line 1\n") {
		t.Error("error holds the whole output, not its last lines")
	}
	if usererr.Is(err) {
		t.Error("a failing step is a build failure (exit 1), not bad input")
	}
}

// TestBuildSecret: the step reads the secret (its hash lands in the layer), but the value is in
// no layer blob, config, manifest or history, nor in the progress output.
func TestBuildSecret(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	e := newEngine(t, d.Addr)
	secret := "tok-" + randomHex(t)
	t.Setenv("GRAFT_TEST_GEM_TOKEN", secret)
	p := testPlugin{name: "gems", files: map[string]string{"Gemfile": "source 'x'\n"}, build: contract.Steps{
		Run:     []string{"sha256sum /run/secrets/gem_token | cut -d' ' -f1 > token.sha256", "echo using $(cat /run/secrets/gem_token)"},
		Secrets: []contract.Secret{{ID: "gem_token", Env: "GRAFT_TEST_GEM_TOKEN"}},
	}}
	var progress bytes.Buffer
	l := mustRun(t, e, p.request(t, base.layout, base, &progress))
	sum := sha256.Sum256([]byte(secret))
	entries := entriesOf(t, l)
	if got := entries[pluginsDir+"/gems/token.sha256"].Data; got != hex.EncodeToString(sum[:])+"\n" {
		t.Fatalf("the step did not read the secret: token.sha256 = %q", got)
	}
	for n := range entries {
		if strings.HasPrefix(n, "/run") {
			t.Errorf("layer holds %s", n)
		}
	}
	img, err := mutate.AppendLayers(base.img, l)
	if err != nil {
		t.Fatal(err)
	}
	for what, data := range imageBytes(t, img, l) {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("the secret is in the %s", what)
		}
	}
	if !strings.Contains(progress.String(), "using [redacted]") {
		t.Errorf("progress does not show the redacted echo:\n%s", progress.String())
	}
	if strings.Contains(progress.String(), secret) {
		t.Error("the secret is in the progress output")
	}

	p.build.Run = []string{"echo token is $(cat /run/secrets/gem_token); exit 1"}
	_, err = run(t, e, p.request(t, base.layout, base, nil))
	if err == nil {
		t.Fatal("a failing step succeeded")
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "token is [redacted]") {
		t.Errorf("failing step's error does not redact the secret: %v", err)
	}
}

// TestBuildSecretMissing: an unset secret source is bad input naming plugin, secret and variable.
func TestBuildSecretMissing(t *testing.T) {
	p := testPlugin{name: "gems", build: contract.Steps{Run: []string{"true"},
		Secrets: []contract.Secret{{ID: "gem_token", Env: "GRAFT_TEST_UNSET_TOKEN"}}}}
	_, err := readSecrets(p.name, p.build.Secrets)
	if err == nil || !usererr.Is(err) {
		t.Fatalf("err = %v, want bad input", err)
	}
	for _, want := range []string{"plugin gems", `"gem_token"`, "GRAFT_TEST_UNSET_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	t.Setenv("GRAFT_TEST_SET_TOKEN", "value")
	_, err = readSecrets("gems", []contract.Secret{{ID: "../../etc/x", Env: "GRAFT_TEST_SET_TOKEN"}})
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), `"../../etc/x"`) {
		t.Errorf("a secret id with a path: %v", err)
	}
}

// imageBytes is every byte of img a secret could hide in: config, manifest, the raw config's
// history, and the layer compressed and decompressed.
func imageBytes(t *testing.T, img v1.Image, l v1.Layer) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var err error
	if out["config"], err = img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	if out["manifest"], err = img.RawManifest(); err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	var hist strings.Builder
	for _, h := range cf.History {
		hist.WriteString(h.CreatedBy + h.Comment)
	}
	out["history"] = []byte(hist.String())
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	blob, _ := io.ReadAll(rc)
	out["layer blob"] = blob
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	out["layer tar"], _ = io.ReadAll(zr)
	if len(out["layer tar"]) == 0 {
		t.Fatal("empty layer")
	}
	return out
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestBaseWithoutShell: steps run as /bin/sh -c; a base without one is named as the cause.
func TestBaseWithoutShell(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	l, err := layer.New([]layer.Entry{dir("/app/plugins"), file("/etc/hostname-less", "x")}, layer.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	base.withImage(t, img)
	_, err = run(t, newEngine(t, d.Addr), demo.request(t, base.layout, base, nil))
	if err == nil || !strings.Contains(err.Error(), "the base image needs /bin/sh") {
		t.Fatalf("err = %v, want it to say the base needs /bin/sh", err)
	}
}
