package lockreport

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
)

const (
	c1 = "1111111111111111111111111111111111111111"
	c2 = "2222222222222222222222222222222222222222"
	d1 = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	d2 = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func locks() (*lockfile.Project, *lockfile.Lock) {
	old := &lockfile.Lock{Base: lockfile.BaseLock{Ref: "r/base:1", Digest: d1},
		Plugins:  []lockfile.PluginLock{{Name: "a", Kind: "tag", Ref: "v1", Commit: c1}, {Name: "l", Kind: lockfile.KindLocal, Local: "src/l", Tree: c1}},
		Contract: &imagecontract.Contract{}}
	now := &lockfile.Lock{Base: lockfile.BaseLock{Ref: "r/base:2", Digest: d2}, Definitions: "sha256:defs",
		Plugins: []lockfile.PluginLock{
			{Name: "a", Kind: "tag", Ref: "v2", Commit: c2, Title: "Release 2", Tags: []string{"v2", "latest"}},
			{Name: "l", Kind: lockfile.KindLocal, Local: "src/l", Tree: c1},
			{Name: "u", Kind: lockfile.KindURL, URL: "https://user:secret@x.example/u.zip", Digest: d2, Tree: c2, Title: "u.zip"},
		},
		Contract: &imagecontract.Contract{Settings: []imagecontract.Setting{{Name: "db", Env: "DB", Required: true}}}}
	return &lockfile.Project{Lock: old}, now
}

func TestPrint(t *testing.T) {
	p, now := locks()
	var b strings.Builder
	Print(&b, p, now, true)
	out := b.String()
	for _, want := range []string{
		`a: tag v2 -> 222222222222 "Release 2" (tags: v2, latest) [was 111111111111]` + "\n",
		"l: local src/l -> tree 111111111111\n",
		`u: url https://x.example/u.zip -> sha256:bbbbbbbbbbbb "u.zip" (tree 222222222222) [new]` + "\n",
		"base: r/base:2 -> " + d2 + " [was r/base:1 sha256:aaaaaaaaaaaa]\n",
		"contract: deployments that worked before may not start: check them with `graft check-deploy FILE`\nwrote graft.lock\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	b.Reset()
	p.Lock.Contract = nil
	Print(&b, p, now, false)
	if !strings.HasSuffix(b.String(), "contract: graft.lock records the image's runtime contract from now on; the next lock shows what changes\ngraft.lock unchanged\n") {
		t.Errorf("a lock without a contract before:\n%s", b.String())
	}
}

func TestNew(t *testing.T) {
	p, now := locks()
	r := New(p, now, "/s/graft.lock", true)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "secret") {
		t.Fatalf("credentials in the report: %s", data)
	}
	if r.Base.Previous != d1 || len(r.Plugins) != 3 || r.Plugins[0].Previous != c1 || r.Plugins[2].Previous != "" ||
		r.Plugins[1].Tags == nil || len(r.ContractChanges) != 1 || r.Definitions != "sha256:defs" {
		t.Fatalf("report %s", data)
	}
	if r := New(&lockfile.Project{}, now, "", false); r.Base.Previous != "" || r.ContractChanges != nil {
		t.Fatalf("no lock before: %+v", r)
	}
}
