package gitremote

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/graft-build/graft/internal/gittest"
)

func noEnv(string) string { return "" }

func TestOpenFetchFileAndHTTP(t *testing.T) {
	root := t.TempDir()
	repo := gittest.NewRepo(t, root, "plugin.git")
	repo.Write(map[string]string{"plugin/README": "hello\n", "top.txt": "x"})
	first := repo.Commit("First commit\n\nbody")
	repo.AnnotatedTag("v1.0.0", "release")
	repo.Tag("light")
	repo.Write(map[string]string{"plugin/README": "changed\n"})
	second := repo.Commit("Second commit")
	srv := gittest.NewServer(t, root)
	wantTree := strings.TrimSpace(repo.Git("rev-parse", first+":plugin"))
	tagObj := strings.TrimSpace(repo.Git("rev-parse", "refs/tags/v1.0.0"))

	for _, u := range []string{repo.URL(), repo.Bare, srv.URL + "/plugin.git"} {
		t.Run(u, func(t *testing.T) {
			ctx := context.Background()
			r, err := Open(ctx, u, WithEnv(noEnv))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			tag, ok := r.Ref("refs/tags/v1.0.0")
			if !ok || tag.Commit != first || tag.Hash != tagObj || tag.Hash == first {
				t.Fatalf("annotated tag = %+v, want commit %s via tag object %s", tag, first, tagObj)
			}
			if head, _ := r.Ref("refs/heads/main"); head.Commit != second {
				t.Fatalf("main = %+v, want %s", head, second)
			}
			if got := r.TagsAt(first); strings.Join(got, ",") != "light,v1.0.0" {
				t.Fatalf("TagsAt = %v", got)
			}
			c, err := r.Fetch(ctx, first, "plugin")
			if err != nil {
				t.Fatal(err)
			}
			if c.Title != "First commit" || c.Tree != wantTree {
				t.Fatalf("commit = %+v, want title %q tree %s", c, "First commit", wantTree)
			}
		})
	}
}

func TestFetchUnadvertisedCommitAndMissingPath(t *testing.T) {
	root := t.TempDir()
	repo := gittest.NewRepo(t, root, "p.git")
	repo.Write(map[string]string{"a": "1"})
	old := repo.Commit("old")
	repo.Write(map[string]string{"a": "2"})
	repo.Commit("new")
	srv := gittest.NewServer(t, root)
	ctx := context.Background()
	for _, u := range []string{repo.URL(), srv.URL + "/p.git"} {
		r, err := Open(ctx, u, WithEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		c, err := r.Fetch(ctx, old, "")
		if err != nil {
			t.Fatalf("%s: fetch by SHA: %v", u, err)
		}
		if c.Title != "old" {
			t.Fatalf("title %q", c.Title)
		}
		r.Close()
		r, err = Open(ctx, u, WithEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Fetch(ctx, old, "nope")
		if !errors.Is(err, ErrPathNotFound) {
			t.Fatalf("missing path: %v", err)
		}
		r.Close()
	}
}

func TestHTTPAuth(t *testing.T) {
	root := t.TempDir()
	repo := gittest.NewRepo(t, root, "private.git")
	repo.Commit("c")
	srv := gittest.NewServer(t, root, gittest.WithBasicAuth("private.git", "alice", "s3cret-pw"))
	u := srv.URL + "/private.git"
	ctx := context.Background()

	if _, err := Open(ctx, u, WithEnv(noEnv)); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatalf("anonymous: %v", err)
	}
	env := map[string]string{"GRAFT_GIT_TOKEN": "alice:wrong-pw"}
	_, err := Open(ctx, u, WithEnv(func(k string) string { return env[k] }))
	if err == nil || strings.Contains(err.Error(), "wrong-pw") || !strings.Contains(err.Error(), u) {
		t.Fatalf("wrong password: %v", err)
	}
	// A per-host token beats the general one.
	host := strings.TrimPrefix(srv.URL, "http://")
	env[HostTokenVar(host)] = "alice:s3cret-pw"
	r, err := Open(ctx, u, WithEnv(func(k string) string { return env[k] }))
	if err != nil {
		t.Fatalf("per-host token: %v", err)
	}
	r.Close()

	// netrc
	home := t.TempDir()
	hostname := strings.Split(host, ":")[0]
	os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine other login x password y\nmachine "+hostname+"\n  login alice\n  password s3cret-pw\n"), 0o600)
	r, err = Open(ctx, u, WithEnv(func(k string) string { return map[string]string{"HOME": home}[k] }))
	if err != nil {
		t.Fatalf("netrc: %v", err)
	}
	r.Close()

	// Credentials in the URL are used but never printed.
	bad := strings.Replace(u, "http://", "http://alice:leaked-pw@", 1)
	_, err = Open(ctx, bad, WithEnv(noEnv))
	if err == nil || strings.Contains(err.Error(), "leaked-pw") || strings.Contains(err.Error(), "alice") {
		t.Fatalf("URL credentials: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ctx := context.Background()
	_, err := Open(ctx, "http://127.0.0.1:1/none.git", WithEnv(noEnv))
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1/none.git") {
		t.Fatalf("unreachable: %v", err)
	}
	_, err = Open(ctx, "file://"+t.TempDir()+"/missing.git", WithEnv(noEnv))
	if err == nil {
		t.Fatal("missing local repo: no error")
	}
}

// countingWriter counts response bytes, to see what a fetch transfers.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return c.ResponseWriter.Write(b)
}

func TestFetchLeavesBlobsWhereAllowed(t *testing.T) {
	root := t.TempDir()
	big := make([]byte, 2<<20)
	rand.Read(big)
	var sent atomic.Int64
	srv := gittest.NewServer(t, root, gittest.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(countingWriter{w, &sent}, r)
		})
	}))
	for _, allow := range []bool{false, true} {
		name := fmt.Sprintf("filter-%v.git", allow)
		repo := gittest.NewRepo(t, root, name)
		repo.Git("config", "--file", filepath.Join(repo.Bare, "config"), "uploadpack.allowFilter", fmt.Sprint(allow))
		repo.Write(map[string]string{"plugin/big.bin": string(big), "plugin/small.rb": "x"})
		c := repo.Commit("big")
		sent.Store(0)
		r, err := Open(context.Background(), srv.URL+"/"+name, WithEnv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Fetch(context.Background(), c, "plugin")
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got.Tree != strings.TrimSpace(repo.Git("rev-parse", c+":plugin")) {
			t.Errorf("allowFilter=%v: tree %s", allow, got.Tree)
		}
		n := sent.Load()
		if allow && n > 64<<10 || !allow && n < 2<<20 {
			t.Errorf("allowFilter=%v: %d bytes sent", allow, n)
		}
	}
}

// A commit only an annotated tag points at is fetched through the tag object, which servers
// hand out without allowing arbitrary SHAs.
func TestFetchCommitOnlyAnAnnotatedTagReaches(t *testing.T) {
	root := t.TempDir()
	repo := gittest.NewRepo(t, root, "p.git")
	repo.Git("config", "--file", filepath.Join(repo.Bare, "config"), "uploadpack.allowReachableSHA1InWant", "false")
	hidden := repo.Commit("no ref points here")
	repo.Write(map[string]string{"a": "1"})
	tagged := repo.Commit("tagged release")
	repo.AnnotatedTag("v1.0.0", "r")
	repo.Write(map[string]string{"a": "2"})
	repo.Commit("later")
	ctx := context.Background()
	r, err := Open(ctx, repo.URL(), WithEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := r.Fetch(ctx, tagged, "")
	if err != nil || c.Title != "tagged release" {
		t.Fatalf("fetch via annotated tag: %+v %v", c, err)
	}
	r2, err := Open(ctx, repo.URL(), WithEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	_, err = r2.Fetch(ctx, hidden, "")
	if err == nil || !strings.Contains(err.Error(), "use a branch or tag as ref") {
		t.Errorf("unadvertised SHA on a strict server: %v", err)
	}
}

// Without partial fetch the pack holds every blob, and trees may be stored as deltas of each
// other: Fetch skips the blobs and resolves the trees' deltas.
func TestFetchWithoutFilterResolvesDeltifiedTrees(t *testing.T) {
	root := t.TempDir()
	srv := gittest.NewServer(t, root)
	repo := gittest.NewRepo(t, root, "deltas.git")
	repo.Git("config", "--file", filepath.Join(repo.Bare, "config"), "uploadpack.allowFilter", "false")
	files := map[string]string{}
	text := strings.Repeat("def method_name(arg)\n  arg.each { |x| puts x }\nend\n", 2000)
	for i := 0; i < 300; i++ {
		for _, dir := range []string{"a", "b"} {
			files[fmt.Sprintf("%s/file_%03d.rb", dir, i)] = fmt.Sprintf("%s%s %d\n", text[:i*10], dir, i)
		}
	}
	files["b/only_in_b.rb"] = text
	repo.Write(files)
	c := repo.Commit("similar trees")
	r, err := Open(context.Background(), srv.URL+"/deltas.git", WithEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, p := range []string{"", "a", "b"} {
		got, err := r.Fetch(context.Background(), c, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(repo.Git("rev-parse", c+":"+p)); got.Tree != want || got.Title != "similar trees" {
			t.Errorf("path %q: tree %s title %q, want %s", p, got.Tree, got.Title, want)
		}
	}
}
