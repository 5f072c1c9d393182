package buildkit

import (
	"archive/tar"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/graft-build/graft/builder/contract"
)

var demo = testPlugin{
	name: "demo",
	files: map[string]string{
		"plugin.toml":       "[source]\n",
		"scripts/hello.sh":  "#!/bin/sh\necho hello\n",
		"frontend/view.erb": "<p>hi</p>\n",
	},
	build: contract.Steps{
		Run: []string{"init-plugin.sh demo", "scripts/hello.sh > generated/hello.txt"},
		Env: map[string]string{"GREETING": "hej"},
	},
}

// TestStepsWriteGeneratedFiles: a step runs the base image's script, as the plugin's owner, in
// the plugin's folder, with the base's and the plugin's environment; the layer holds the
// plugin's files and the generated files, and nothing else.
func TestStepsWriteGeneratedFiles(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	e := newEngine(t, d.Addr)
	l := mustRun(t, e, demo.request(t, base.layout, base, nil))
	got := entriesOf(t, l)
	dir := pluginsDir + "/demo"
	want := []string{dir, dir + "/frontend", dir + "/frontend/view.erb", dir + "/generated",
		dir + "/generated/hello.txt", dir + "/generated/info.txt", dir + "/generated/scripts.txt",
		dir + "/plugin.toml", dir + "/scripts", dir + "/scripts/hello.sh"}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("layer entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	info := got[dir+"/generated/info.txt"].Data
	wantInfo := "plugin=demo user=1000:1000 pwd=" + dir + " app=/app greeting=hej\n"
	if info != wantInfo {
		t.Errorf("info.txt = %q, want %q", info, wantInfo)
	}
	if h := got[dir+"/generated/hello.txt"].Data; h != "hello\n" {
		t.Errorf("hello.txt = %q", h)
	}
	for n, en := range got {
		if en.UID != uid || en.GID != gid || !en.ModTime.Equal(epoch) {
			t.Errorf("%s: owner %d:%d mtime %s, want %d:%d %s", n, en.UID, en.GID, en.ModTime, uid, gid, epoch)
		}
	}
}

// TestFilesMatchDaemonless: the plugin-file part of the steps' layer is entry for entry what
// the daemonless engine's layer holds for the same files.
func TestFilesMatchDaemonless(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	e := newEngine(t, d.Addr)
	steps := entriesOf(t, mustRun(t, e, demo.request(t, base.layout, base, nil)))
	plain := entriesOf(t, demo.filesLayer(t, epoch))
	for n, want := range plain {
		got, ok := steps[n]
		if !ok {
			t.Errorf("%s: in the daemonless layer, not in the steps' layer", n)
			continue
		}
		if got != want {
			t.Errorf("%s: steps' layer %+v, daemonless %+v", n, got, want)
		}
	}
	if len(plain) < 5 {
		t.Fatalf("daemonless layer has only %d entries", len(plain))
	}
	if got := steps[pluginsDir+"/demo/scripts/hello.sh"]; got.Type != tar.TypeReg || got.Mode != 0o755 {
		t.Errorf("hello.sh: type %q mode %o", got.Type, got.Mode)
	}
}

// TestRegistryAndLayoutBaseSameLayer: the base by digest from a registry on 127.0.0.1 or from an
// OCI layout gives the same layer, byte for byte, and the daemon never asks the registry for
// it: graft hands over the base it read through the session.
func TestRegistryAndLayoutBaseSameLayer(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	e := newEngine(t, d.Addr)
	fromRegistry := digestOf(t, mustRun(t, e, demo.request(t, base.registry, base, nil)))
	if n := base.manifestGets(); n != 0 {
		t.Fatalf("buildkitd fetched the base's manifest from the registry %d times", n)
	}
	fromLayout := digestOf(t, mustRun(t, e, demo.request(t, base.layout, base, nil)))
	if fromLayout != fromRegistry {
		t.Errorf("layer from the OCI layout base %s, from the registry base %s", fromLayout, fromRegistry)
	}
}

// TestProgressModes: plain shows BuildKit's display with the plugin's step names; quiet shows
// nothing.
func TestProgressModes(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	var plain, quiet strings.Builder
	mustRun(t, newEngine(t, d.Addr, WithProgress("plain", &plain)), demo.request(t, base.layout, base, nil))
	mustRun(t, newEngine(t, d.Addr, WithProgress("quiet", &quiet)), demo.request(t, base.layout, base, nil))
	for _, want := range []string{"[demo] build step 1/2: init-plugin.sh demo", "[demo] build step 2/2", "DONE"} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("plain progress lacks %q:\n%s", want, plain.String())
		}
	}
	if quiet.Len() != 0 {
		t.Errorf("quiet progress wrote:\n%s", quiet.String())
	}
}

// TestConcurrentDisplaysDoNotInterleave: two plugins' steps started together with one plain
// display print one plugin's progress after the other's.
func TestConcurrentDisplaysDoNotInterleave(t *testing.T) {
	d := shared.Daemon(t)
	base := newBase(t)
	var out syncBuilder
	e := newEngine(t, d.Addr, WithProgress("plain", &out))
	var wg sync.WaitGroup
	for _, name := range []string{"left", "right"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := testPlugin{name: name, files: map[string]string{"f": name},
				build: contract.Steps{Run: []string{"sleep 1; echo " + name + " > out"}}}
			if _, err := run(t, e, p.request(t, base.layout, base, nil)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var order []string
	for _, line := range strings.Split(out.String(), "\n") {
		for _, name := range []string{"[left]", "[right]"} {
			if strings.Contains(line, name) && (len(order) == 0 || order[len(order)-1] != name) {
				order = append(order, name)
			}
		}
	}
	if len(order) != 2 {
		t.Errorf("progress of the two plugins interleaves: %v\n%s", order, out.String())
	}
}

// syncBuilder is a strings.Builder safe for concurrent writers.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
