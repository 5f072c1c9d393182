package buildopts

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/publish"
)

// -t and --push are buildx's shorthands: --push pushes to every -t name (graft.toml's name
// without one) and is an output of its own; the first -t names the other outputs.
func TestOutputSpecs(t *testing.T) {
	for _, c := range []struct {
		name     string
		o        Build
		site     string
		specs    []string
		def, err string
	}{
		{"default", Build{}, "site", []string{publish.DefaultSpec}, "site", ""},
		{"push to the site's name", Build{Push: true}, "registry.test/lib/app", []string{"type=registry,name=registry.test/lib/app"}, "registry.test/lib/app", ""},
		{"push to every tag", Build{Push: true, Tags: []string{"r.test/a:1", "r.test/a:latest"}, Outputs: []string{"type=oci,dest=x"}}, "site",
			[]string{"type=oci,dest=x", "type=registry,name=r.test/a:1", "type=registry,name=r.test/a:latest"}, "r.test/a:1", ""},
		{"tag without push", Build{Tags: []string{"a/b:1"}, Outputs: []string{"type=oci,dest=x"}}, "site/name", []string{"type=oci,dest=x"}, "a/b:1", ""},
		{"push without a name", Build{Push: true}, "", nil, "", "give -t NAME"},
		{"bad tag", Build{Tags: []string{"UPPER/Case:v1"}}, "site", nil, "", `--tag "UPPER/Case:v1"`},
	} {
		specs, def, err := c.o.OutputSpecs(c.site)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(specs, " ") != strings.Join(c.specs, " ") || def != c.def {
			t.Errorf("%s: %q %q %v, want %q %q", c.name, specs, def, err, c.specs, c.def)
		}
	}
	if got := (&Build{Tags: []string{"a/b:1", "a/b:2"}}).FirstTag(); got != "a/b:1" {
		t.Errorf("FirstTag %q", got)
	}
	if got := (&Build{}).FirstTag(); got != "" {
		t.Errorf("FirstTag without -t %q", got)
	}
}

// Publishers are the specs parsed once: relative folders under the site repository, and
// --push with -t NAME a registry output whose repository the cache mounts from.
func TestPublishers(t *testing.T) {
	base := t.TempDir()
	o := &Build{Tags: []string{"registry.test/lib/x:v1"}, Push: true, Outputs: []string{"type=oci,dest=out/img"}}
	pubs, err := o.Publishers(base, "site")
	if err != nil || len(pubs) != 2 {
		t.Fatalf("%v %v", pubs, err)
	}
	if got := pubs[0].Target().Path; got != filepath.Join(base, "out/img") {
		t.Errorf("layout at %q", got)
	}
	repos := PushedRepos(pubs)
	if len(repos) != 1 || repos[0].String() != "registry.test/lib/x" {
		t.Errorf("pushed repositories %v, want registry.test/lib/x", repos)
	}
	if _, err := (&Build{Outputs: []string{"type=nope"}}).Publishers(base, "site"); err == nil {
		t.Error("an unknown output type was taken")
	}
}

func TestParseOverrides(t *testing.T) {
	local, err := (&Build{}).Publishers(t.TempDir(), "site")
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := (&Build{Push: true}).Publishers(t.TempDir(), "registry.test/lib/app")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := (&Build{}).ParseOverrides(pushed); got != nil || err != nil {
		t.Errorf("without --override: %v %v", got, err)
	}
	got, err := (&Build{Overrides: []string{"oauth=rel/dir", "x=/abs=y"}}).ParseOverrides(local)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got["oauth"]) || !strings.HasSuffix(got["oauth"], filepath.Join("rel", "dir")) || got["x"] != "/abs=y" {
		t.Errorf("overrides %v", got)
	}
	for spec, want := range map[string]string{"noequals": "write NAME=PATH", "=path": "write NAME=PATH", "name=": "write NAME=PATH"} {
		if _, err := (&Build{Overrides: []string{spec}}).ParseOverrides(local); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", spec, err)
		}
	}
	if _, err := (&Build{Overrides: []string{"a=x", "a=y"}}).ParseOverrides(local); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("twice: %v", err)
	}
	if _, err := (&Build{Overrides: []string{"a=x"}}).ParseOverrides(pushed); err == nil || !strings.Contains(err.Error(), "--allow-override-push") {
		t.Errorf("pushed: %v", err)
	}
	if got, err := (&Build{Overrides: []string{"a=x"}, AllowOverridePush: true}).ParseOverrides(pushed); err != nil || got["a"] == "" {
		t.Errorf("allowed push: %v %v", got, err)
	}
}
