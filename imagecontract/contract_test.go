package imagecontract

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/graft-build/graft/launcher"
)

// The contract's stop timeout default is the launcher's own.
func TestDefaultStopTimeoutIsTheLaunchersDefault(t *testing.T) {
	f, _ := reflect.TypeOf(launcher.Options{}).FieldByName("StopTimeout")
	if d, err := time.ParseDuration(f.Tag.Get("envDefault")); err != nil || d != DefaultStopTimeout || f.Tag.Get("env") != StopTimeoutEnv {
		t.Fatalf("launcher.Options.StopTimeout %q (%v), imagecontract says %v under %s", f.Tag, err, DefaultStopTimeout, StopTimeoutEnv)
	}
	f, _ = reflect.TypeOf(launcher.Options{}).FieldByName("Components")
	if f.Tag.Get("env") != ComponentsEnv {
		t.Fatalf("launcher reads components from %q, imagecontract says %s", f.Tag.Get("env"), ComponentsEnv)
	}
}

func TestDiff(t *testing.T) {
	old := &Contract{
		Components: []Component{{Name: "web", Port: 8080, Health: "/"}, {Name: "oai", Port: 8082}},
		Settings: []Setting{{Name: "db", Env: "DB", Required: true, Secret: true}, {Name: "url", Env: "URL", Default: "x"},
			{Name: "gone", Env: "GONE"}, {Name: "opt", Env: "OPT"}},
	}
	new := &Contract{
		Components: []Component{{Name: "web", Port: 9090, Health: "/"}, {Name: "api", Port: 8089}},
		Settings: []Setting{{Name: "db", Env: "DB", Required: true, Secret: true}, {Name: "url", Env: "APP_URL", Default: "x"},
			{Name: "opt", Env: "OPT", Required: true}, {Name: "key", Env: "KEY", Required: true, Secret: true, Plugin: "oauth"}},
	}
	var got []string
	for _, c := range Diff(old, new) {
		got = append(got, map[bool]string{true: "!", false: " "}[c.Breaking]+c.Message)
	}
	want := []string{
		" setting url: now read from APP_URL, not URL",
		"!setting opt: now required: (OPT or OPT_FILE): every service running the image must give it",
		"!new required secret setting key (plugin oauth) (KEY_FILE naming a secret, or KEY): every service running the image must give it",
		" setting gone (GONE) removed: the image no longer reads it",
		"!component web: port 8080 / -> 9090 /: update published ports and probes",
		" new component api (port 8089)",
		"!component oai removed: a service selecting it (GRAFT_COMPONENTS, run oai) will not start",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := Diff(new, new); len(d) != 0 {
		t.Fatalf("a contract differs from itself: %v", d)
	}
}

type entry struct{ name, body string }

func layerOf(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(e.body))
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func image(t *testing.T, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

const launcherTOML = `
[[setting]]
name = "db"
env = "DB"
required = true
secret = true

[[process]]
name = "app"
command = ["/app"]
components = ["web"]

[[component]]
name = "web"
port = 8080
health = "/health"
`

// FromImage reads the launcher.toml the container sees: the top one, through whiteouts.
func TestFromImage(t *testing.T) {
	old := layerOf(t, entry{"etc/graft/launcher.toml", "[[component]]\nname = \"old\"\nport = 1\n"})
	cur := layerOf(t, entry{"./etc/graft/launcher.toml", launcherTOML})
	cfg := v1.Config{Env: []string{"PATH=/bin", "GRAFT_STOP_TIMEOUT=45s"}, Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "/usr/local/bin/graft-launcher", "healthcheck"}, StartPeriod: time.Minute}}
	c, err := FromImage(image(t, cfg, old, cur, layerOf(t, entry{"app/x", "y"})))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Components) != 1 || c.Components[0] != (Component{Name: "web", Port: 8080, Health: "/health", Process: "app"}) ||
		len(c.Settings) != 1 || !c.Settings[0].MustGive() || time.Duration(c.StopTimeout) != 45*time.Second ||
		c.Health == nil || time.Duration(c.Health.StartPeriod) != time.Minute {
		t.Fatalf("contract %+v health %+v", c, c.Health)
	}
	if _, err := FromImage(image(t, v1.Config{}, cur, layerOf(t, entry{"etc/graft/.wh.launcher.toml", ""}))); !errors.Is(err, ErrNoLauncherConfig) {
		t.Fatalf("deleted launcher.toml: %v", err)
	}
	if _, err := FromImage(image(t, v1.Config{}, layerOf(t, entry{"app/x", "y"}))); !errors.Is(err, ErrNoLauncherConfig) {
		t.Fatalf("no launcher.toml: %v", err)
	}
	if _, err := FromImage(image(t, v1.Config{}, layerOf(t, entry{"etc/graft/launcher.toml", "[[component]]\nport = 0\n"}))); err == nil || !strings.Contains(err.Error(), "launcher.toml") {
		t.Fatalf("bad launcher.toml: %v", err)
	}
	big := layerOf(t, entry{"etc/graft/launcher.toml", strings.Repeat("#", MaxConfigSize+1)})
	if _, err := FromImage(image(t, v1.Config{}, big)); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Fatalf("oversized launcher.toml: %v", err)
	}
}

// Whatever a layer holds, reading the contract from it ends in a contract or an error.
func FuzzFromImageLayer(f *testing.F) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/graft/launcher.toml", Mode: 0o644, Size: int64(len(launcherTOML)), Typeflag: tar.TypeReg})
	tw.Write([]byte(launcherTOML))
	tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			return
		}
		img, err := mutate.AppendLayers(empty.Image, l)
		if err != nil {
			return
		}
		c, err := FromImage(img)
		if err == nil && c == nil {
			t.Fatal("no contract and no error")
		}
	})
}
