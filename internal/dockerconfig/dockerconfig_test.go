package dockerconfig

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/graft-build/graft/internal/usererr"
)

func TestRegistryKey(t *testing.T) {
	for arg, want := range map[string]string{
		"docker.io":                 DockerHubKey,
		"index.docker.io":           DockerHubKey,
		"https://reg.example:5000/": "reg.example:5000",
		"http://127.0.0.1:5000":     "127.0.0.1:5000",
		"registry.example.org":      "registry.example.org",
	} {
		if _, key, err := RegistryKey(arg); err != nil || key != want {
			t.Errorf("RegistryKey(%q) = %q, %v; want %q", arg, key, err, want)
		}
	}
	for _, arg := range []string{"reg.example/lib/app", "UPPER CASE"} {
		if _, _, err := RegistryKey(arg); !usererr.Is(err) {
			t.Errorf("RegistryKey(%q): %v, want bad input", arg, err)
		}
	}
}

// Store writes config.json private (also when it was world-readable), in docker's layout;
// Erase removes the entry and says when there was none.
func TestStoreAndErase(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, []byte(`{"auths":{"other.example":{"auth":"eDp5"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Store("reg.example", "ci", "pw"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.json: %v, %v", fi.Mode(), err)
	}
	var doc struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	raw, _ := os.ReadFile(file)
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Auths["reg.example"].Auth != "Y2k6cHc=" || doc.Auths["other.example"].Auth == "" {
		t.Fatalf("config.json: %s (%v)", raw, err)
	}
	if got := c.StoreName("reg.example"); got != file {
		t.Errorf("StoreName = %q, want %q", got, file)
	}
	c, _ = Load()
	if erased, err := c.Erase("reg.example"); !erased || err != nil {
		t.Fatalf("Erase: %v, %v", erased, err)
	}
	if erased, err := c.Erase("reg.example"); erased || err != nil {
		t.Fatalf("second Erase: %v, %v", erased, err)
	}
	if raw, _ := os.ReadFile(file); strings.Contains(string(raw), "reg.example") {
		t.Fatalf("still stored: %s", raw)
	}
}

func TestStoreNameNamesTheHelper(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credsStore":"pass","credHelpers":{"gcr.io":"gcloud"}}`), 0o600)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StoreName("gcr.io"); got != "docker-credential-gcloud" {
		t.Errorf("gcr.io: %q", got)
	}
	if got := c.StoreName("reg.example"); got != "docker-credential-pass" {
		t.Errorf("reg.example: %q", got)
	}
}

// A config.json that is a link, or not a file, is refused before anything is written.
func TestLoadRefusesLinksAndFolders(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	target := filepath.Join(t.TempDir(), "shared.json")
	os.WriteFile(target, []byte(`{}`), 0o644)
	if err := os.Symlink(target, filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(); !usererr.Is(err) || !strings.Contains(err.Error(), "is a symlink (to "+target+")") {
		t.Fatalf("symlink: %v", err)
	}
	os.Remove(filepath.Join(dir, "config.json"))
	os.Mkdir(filepath.Join(dir, "config.json"), 0o700)
	if _, err := Load(); !usererr.Is(err) || !strings.Contains(err.Error(), "is not a regular file") {
		t.Fatalf("folder: %v", err)
	}
}

func TestDirFollowsTheEnvironmentEachCall(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "/a")
	if Dir() != "/a" {
		t.Fatal(Dir())
	}
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", "/home/x")
	if Dir() != "/home/x/.docker" {
		t.Fatal(Dir())
	}
}

func TestCheckLogin(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "right" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	r, err := name.NewRegistry(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := CheckLogin(ctx, r, "ci", "right"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	err = CheckLogin(ctx, r, "ci", "wrong")
	if !usererr.Is(err) || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
}
