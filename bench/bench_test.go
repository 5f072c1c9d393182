package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// The bench's inputs must be the same bytes on every machine, or results are not comparable.
func TestPluginContentIsDeterministic(t *testing.T) {
	a, b := pluginFiles(1, 7, true), pluginFiles(1, 7, true)
	if len(a) != len(b) {
		t.Fatalf("same seed gave %d and %d files", len(a), len(b))
	}
	var size int
	for p, data := range a {
		if !bytes.Equal(data, b[p]) {
			t.Fatalf("same seed gave different content for %s", p)
		}
		size += len(data)
	}
	if size < 256<<10 {
		t.Errorf("a large plugin holds %d bytes; want at least its assets (256 KB)", size)
	}
	other := pluginFiles(2, 7, true)
	if bytes.Equal(other["README.md"], a["README.md"]) {
		t.Error("another seed gave the same README")
	}
	for p := range pluginFiles(1, 8, false) {
		if strings.Contains(p, "assets/") || strings.HasPrefix(p, "db/") {
			t.Errorf("a small plugin carries asset %s", p)
		}
	}
}

// Same content, author and dates give the same commit SHA in any folder.
func TestRepositoriesAreReproducible(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git is required under CI: %v", err)
		}
		t.Skipf("skipping: git not installed: %v", err)
	}
	ctx := context.Background()
	var heads []string
	for range 2 {
		b := &bench{cfg: &config{seed: 1}, tmp: t.TempDir()}
		r, err := b.ensureRepo(ctx, 3, false)
		if err != nil {
			t.Fatal(err)
		}
		head, err := r.head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, head)
		if err := r.change(ctx, 1); err != nil {
			t.Fatal(err)
		}
		changed, err := r.head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if changed == head {
			t.Fatal("change made no new commit")
		}
	}
	if heads[0] != heads[1] || len(heads[0]) != 40 {
		t.Fatalf("HEADs %q and %q: want the same full SHA", heads[0], heads[1])
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// A row whose subject is missing stays in the table and says why; pipes in cells are escaped
// so the Markdown table keeps its columns.
func TestTableKeepsWaitingRowsAndEscapesPipes(t *testing.T) {
	rows := []*row{
		{Scenario: "cold build", Graft: statusSide("graft build", "waiting: graft build"),
			Peers: []*side{okSide("`tar | pigz`", unitSeconds, []float64{2, 1, 3})}},
		{Scenario: "lock", Graft: okSide("graft lock", unitSeconds, []float64{0.5}),
			Peers: []*side{statusSide("git", "peer missing: git")}, Met: boolPtr(false), Target: "≤ 1 s"},
		{Scenario: "push", Graft: failedSide("graft build", errors.New("exit status 1")),
			Peers: []*side{okSide("docker", unitSeconds, []float64{1})}},
	}
	table := formatTable(rows)
	for _, want := range []string{"waiting: graft build", "peer missing: git", "failed: exit status 1",
		"`tar \\| pigz`", "2.00 s", "500 ms", "**missed**"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 8 {
			t.Errorf("line has %d column separators, want 8: %s", n, line)
		}
	}
}

// A row's traffic sums every server's requests and counts the sequential ones across servers:
// a client waiting on the git server, then the registry, made two round trips in a chain.
func TestTrafficAcrossServers(t *testing.T) {
	b := &bench{cfg: &config{}}
	var urls []string
	for range 2 {
		link := b.newLink()
		srv := httptest.NewUnstartedServer(link.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
		srv.Listener = link.Listener(srv.Listener)
		srv.Start()
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	get := func(url string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get(urls[0] + "/before")
	m := b.markTraffic()
	get(urls[0] + "/plugin-1.git/info/refs")
	get(urls[1] + "/v2/bench/graft/blobs/sha256:00")
	get(urls[1] + "/v2/bench/graft/blobs/sha256:01")
	tr := b.trafficSince(m)
	if tr.requests != 3 || tr.sequential != 3 {
		t.Errorf("traffic %+v, want 3 requests, 3 sequential", tr)
	}
	if want := "GET blob 2, GET git refs 1"; tr.mix != want {
		t.Errorf("mix %q, want %q", tr.mix, want)
	}
}

// The change row's image upload leaves out what graft attaches: the fallback and cosign tags
// by their names, SBOMs, DSSE envelopes and referrer manifests by their content; image
// manifests, configs and layers count as the image's.
func TestAttestedBytesAreTheAttachments(t *testing.T) {
	cases := []struct {
		method, path, body string
		attested           bool
	}{
		{"PUT", "/v2/lib/app/manifests/sha256-abc.att", `{"schemaVersion":2,"layers":[]}`, true},
		{"PUT", "/v2/lib/app/manifests/sha256-abc", `{"schemaVersion":2,"manifests":[]}`, true},
		{"PUT", "/v2/lib/app/blobs/uploads/x?digest=sha256:1", `{"payloadType":"application/vnd.in-toto+json","payload":"e30="}`, true},
		{"PATCH", "/v2/lib/app/blobs/uploads/x", `{"spdxVersion":"SPDX-2.3"}`, true},
		{"PUT", "/v2/lib/app/manifests/sha256:1", `{"schemaVersion":2,"artifactType":"application/spdx+json"}`, true},
		{"PUT", "/v2/lib/app/manifests/1", `{"schemaVersion":2,"config":{},"layers":[]}`, false},
		{"PATCH", "/v2/lib/app/blobs/uploads/x", strings.Repeat("\x1f\x8b layer bytes ", 400), false},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		var n, att atomic.Int64
		io.Copy(io.Discard, newCountingReader(req, &n, &att))
		if n.Load() != int64(len(c.body)) || (att.Load() == n.Load()) != c.attested || (att.Load() == 0) == c.attested {
			t.Errorf("%s %s: counted %d, attested %d; want attested %v", c.method, c.path, n.Load(), att.Load(), c.attested)
		}
	}
}
