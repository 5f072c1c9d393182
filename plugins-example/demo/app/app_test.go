package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	cfg   *Config
	ports map[string]int
}

func newFixture(t *testing.T, extra string) fixture {
	t.Helper()
	dir := t.TempDir()
	ports := map[string]int{}
	var conf strings.Builder
	for _, c := range Components {
		ports[c] = freePort(t)
		fmt.Fprintf(&conf, "%s_port = %d\n", c, ports[c])
	}
	fmt.Fprintf(&conf, "db_url = file://%s/data\nsecret_key = s3cret\nplugins_dir = %s/plugins\n", dir, dir)
	fmt.Fprintf(&conf, "backend_url = http://127.0.0.1:%d\nindex_interval = 50ms\napp_version = 1.2.3\n%s", ports["backend"], extra)
	writeFile(t, dir+"/plugins/files/VERSION", "2.0.0\n")
	writeFile(t, dir+"/plugins/files/content.txt", "hello from files")
	writeFile(t, dir+"/plugins/greeting/requires", "setting.greeting_shared_secret\n")
	writeFile(t, dir+"/plugins/greeting/VERSION", "1.0.0")
	writeFile(t, dir+"/demo.conf", conf.String())
	cfg, err := LoadConfig(dir + "/demo.conf")
	if err != nil {
		t.Fatal(err)
	}
	return fixture{cfg, ports}
}

func start(t *testing.T, f fixture, components ...string) (stop func() error) {
	t.Helper()
	a, err := New(f.cfg, components, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for _, c := range components {
		waitHealthy(t, f.ports[c])
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitHealthy(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("port %d never became healthy", port)
}

func getJSON(t *testing.T, url string, into any) http.Header {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
	return resp.Header
}

func TestFrontendCallsBackendAndCarriesVersions(t *testing.T) {
	f := newFixture(t, "setting.greeting_shared_secret = shh\n")
	start(t, f, "backend", "frontend")
	var home infoBody
	h := getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/", f.ports["frontend"]), &home)
	if got := h.Get("X-Demo-Plugins"); got != "files@2.0.0,greeting@1.0.0" {
		t.Errorf("X-Demo-Plugins = %q", got)
	}
	if h.Get("X-Demo-Version") != "1.2.3" || home.Backend == nil || home.Backend.Component != "backend" ||
		home.Backend.Plugins["files"] != "2.0.0" {
		t.Errorf("home = %+v, header %v", home, h)
	}
	var page pluginBody
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/plugins/greeting", f.ports["frontend"]), &page)
	if page.Config["setting.greeting_shared_secret"] != Fingerprint("shh") {
		t.Errorf("secret fingerprint = %v", page.Config)
	}
	var files pluginBody
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/plugins/files", f.ports["backend"]), &files)
	if files.Content != "hello from files" || strings.Join(files.Files, ",") != "VERSION,content.txt" {
		t.Errorf("files plugin = %+v", files.Plugin)
	}
}

func TestRecordsLiveInTheDataFolderAndTheIndexerSeesThem(t *testing.T) {
	f := newFixture(t, "setting.greeting_shared_secret = shh\n")
	stop := start(t, f, "backend", "public", "indexer")
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://127.0.0.1:%d/api/records/r1", f.ports["backend"]),
		strings.NewReader(`{"title":"Papers"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("put: %v %v", err, resp)
	}
	var rec map[string]string
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/records/r1", f.ports["public"]), &rec)
	if rec["title"] != "Papers" {
		t.Errorf("record via public = %v", rec)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var st indexState
		getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/status", f.ports["indexer"]), &st)
		if len(st.Records) == 1 && st.Records[0] == "r1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer never saw r1: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// A second process (another replica) reads the same state.
	start(t, f, "backend")
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/api/records/r1", f.ports["backend"]), &rec)
}

func TestMissingRequiredSecretFailsStartupWithoutTheValue(t *testing.T) {
	f := newFixture(t, "")
	_, err := New(f.cfg, []string{"backend"}, log.New(io.Discard, "", 0))
	if err == nil || !strings.Contains(err.Error(), "greeting requires setting.greeting_shared_secret") {
		t.Fatalf("err = %v", err)
	}
}

// TestDrainsInFlightRequests: a request in flight when shutdown starts still gets its answer,
// and health turns 503 during shutdown_delay.
func TestDrainsInFlightRequests(t *testing.T) {
	f := newFixture(t, "setting.greeting_shared_secret = shh\nshutdown_delay = 300ms\n")
	stop := start(t, f, "backend")
	errc := make(chan error, 1)
	go func() { errc <- stop() }()
	time.Sleep(100 * time.Millisecond)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", f.ports["backend"]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("health while stopping = %d, want 503", resp.StatusCode)
	}
	var info infoBody
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/api/info", f.ports["backend"]), &info)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", f.ports["backend"])); err == nil {
		t.Error("still listening after stop")
	}
}

func TestConfigErrorsNameFileLineAndKey(t *testing.T) {
	cases := map[string]string{
		"db_url = file:///d\nsecret_key = x\nbackend_port = 99999\n":   "demo.conf:3: backend_port:",
		"db_url = postgres://u:pw@h/db\nsecret_key = x\n":              "demo.conf:1: db_url: is not a file:///DIR URL",
		"db_url = file:///d\n":                                         "demo.conf: secret_key: is required",
		"db_url = file:///d\nsecret_key = x\njunk line\n":              "demo.conf:3: junk:",
		"db_url = file:///d\nsecret_key = x\ncomponents = backend,oai": "demo.conf:3: components: unknown component \"oai\"",
	}
	for conf, want := range cases {
		_, err := ParseConfig("demo.conf", []byte(conf))
		var ce *ConfigError
		if err == nil || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: err = %v, want prefix %q", conf, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error leaks the database URL: %v", err)
		}
	}
}

func TestSelectComponents(t *testing.T) {
	cfg, err := ParseConfig("c", []byte("db_url = file:///d\nsecret_key = x\ncomponents = indexer backend\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cfg.SelectComponents(nil); strings.Join(got, ",") != "backend,indexer" {
		t.Errorf("from config: %v", got)
	}
	if got, _ := cfg.SelectComponents([]string{"public"}); strings.Join(got, ",") != "public" {
		t.Errorf("from args: %v", got)
	}
	if _, err := cfg.SelectComponents([]string{"solr"}); err == nil {
		t.Error("unknown component accepted")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("db_url = file:///d\nsecret_key = x\nbackend_port = 1\n"))
	f.Add([]byte("= x\n#c\ncomponents = a,b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("f", data)
		if err == nil && (c.DBDir == "" || c.Get("secret_key") == "") {
			t.Fatalf("accepted config without db or secret: %q", data)
		}
	})
}
