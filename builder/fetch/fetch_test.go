package fetch

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/localtree"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newPlugin makes a repository with a plugin under sub/ and returns it with its source.
func newPlugin(t *testing.T) (*gittest.Repo, Source) {
	root := t.TempDir()
	r := gittest.NewRepo(t, root, "p.git")
	r.Write(map[string]string{"README": "top", "sub/a.txt": "a", "sub/bin/run.sh@x": "#!/bin/sh\n"})
	r.Symlink("sub/link", "a.txt")
	commit := r.Commit("first")
	tree := strings.TrimSpace(r.Git("rev-parse", commit+":sub"))
	return r, Source{Name: "p", URL: r.URL(), Ref: "main", Commit: commit, Path: "sub", Tree: tree}
}

func paths(files []File) string {
	var s []string
	for _, f := range files {
		s = append(s, f.Path+":"+f.Mode.String())
	}
	return strings.Join(s, " ")
}

// content reads a regular file through its Open.
func content(t *testing.T, f File) (string, error) {
	t.Helper()
	if f.Open == nil {
		t.Fatalf("%s: no Open", f.Path)
	}
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

func TestGetFetchesOnceAndReadsTheTree(t *testing.T) {
	_, src := newPlugin(t)
	dir := t.TempDir()
	res, err := NewCache(dir).Get(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := "a.txt:0100644 bin:0040000 bin/run.sh:0100755 link:0120000"
	if got := paths(res.Files); got != want || !res.Fetched {
		t.Fatalf("files %s (fetched %v), want %s", got, res.Fetched, want)
	}
	if string(res.Files[3].Data) != "a.txt" || res.Files[3].Mode != filemode.Symlink {
		t.Errorf("symlink: %+v", res.Files[3])
	}
	if got, err := content(t, res.Files[2]); err != nil || got != "#!/bin/sh\n" || res.Files[2].Size != int64(len(got)) {
		t.Errorf("run.sh: %q (size %d), %v", got, res.Files[2].Size, err)
	}
	// A new cache over the same folder (a rebuild): nothing is fetched, even with the
	// repository gone.
	src.URL = "file:///nonexistent/p.git"
	again, err := NewCache(dir).Get(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if again.Fetched || paths(again.Files) != want {
		t.Fatalf("rebuild fetched=%v files %s", again.Fetched, paths(again.Files))
	}
}

func TestFallsBackToTheRefWhenTheServerRefusesCommits(t *testing.T) {
	r, src := newPlugin(t)
	gitIn(t, r.Bare, "config", "uploadpack.allowReachableSHA1InWant", "false")
	// The branch moved on: the locked commit is in its history, not at its tip.
	r.Write(map[string]string{"sub/a.txt": "changed"})
	r.Commit("second")
	res, err := NewCache(t.TempDir()).Get(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := content(t, res.Files[0]); err != nil || got != "a" {
		t.Fatalf("got %q (%v) from the wrong commit", got, err)
	}
}

func TestWrongCommitIsAClearError(t *testing.T) {
	r, src := newPlugin(t)
	gitIn(t, r.Bare, "config", "uploadpack.allowReachableSHA1InWant", "false")
	src.Commit = strings.Repeat("ab", 20)
	_, err := NewCache(t.TempDir()).Get(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "is not in") || !strings.Contains(err.Error(), "run `graft lock`") {
		t.Fatalf("err = %v", err)
	}
}

func TestTreeMismatchBlamesTheLock(t *testing.T) {
	_, src := newPlugin(t)
	src.Tree = strings.Repeat("0", 40)
	_, err := NewCache(t.TempDir()).Get(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "graft.lock says") {
		t.Fatalf("err = %v", err)
	}
}

func TestTamperedCacheIsDetected(t *testing.T) {
	_, src := newPlugin(t)
	dir := t.TempDir()
	res, err := NewCache(dir).Get(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	// Turn the pack into loose objects, then put other content under a.txt's blob name.
	entry := res.CacheDir
	packs, _ := filepath.Glob(filepath.Join(entry, "objects", "pack", "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("packs: %v", packs)
	}
	moved := filepath.Join(t.TempDir(), "p.pack")
	if err := os.Rename(packs[0], moved); err != nil {
		t.Fatal(err)
	}
	os.Remove(strings.TrimSuffix(packs[0], ".pack") + ".idx")
	pack, _ := os.Open(moved)
	cmd := exec.Command("git", "unpack-objects", "-q")
	cmd.Dir, cmd.Stdin = entry, pack
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unpack: %v %s", err, out)
	}
	pack.Close()
	blob := gitIn(t, entry, "rev-parse", src.Commit+":sub/a.txt")
	evil := filepath.Join(t.TempDir(), "evil")
	os.WriteFile(evil, []byte("evil"), 0o644)
	evilHash := gitIn(t, entry, "hash-object", "-w", evil)
	loose := func(h string) string { return filepath.Join(entry, "objects", h[:2], h[2:]) }
	data, err := os.ReadFile(loose(evilHash))
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(loose(blob), 0o644)
	if err := os.WriteFile(loose(blob), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The listing reads only trees; the blob's content fails when it is streamed.
	again, err := NewCache(dir).Get(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = content(t, again.Files[0])
	if err == nil || !strings.Contains(err.Error(), "tampered") || !strings.Contains(err.Error(), "rm -rf "+entry) {
		t.Fatalf("err = %v", err)
	}
}

func TestCraftedTreeWithGitMetadataIsRefused(t *testing.T) {
	r, src := newPlugin(t)
	// git itself never makes such a tree; mktree does what it is told.
	hook := filepath.Join(t.TempDir(), "hook")
	os.WriteFile(hook, []byte("#!/bin/sh\n"), 0o644)
	blob := strings.TrimSpace(r.Git("hash-object", "-w", hook))
	inner := gitMktree(t, r, "100644 blob "+blob+"\tpost-checkout\n")
	tree := gitMktree(t, r, "040000 tree "+inner+"\t.git\n100644 blob "+blob+"\tok.txt\n")
	commit := strings.TrimSpace(r.Git("commit-tree", tree, "-m", "crafted"))
	r.Git("push", "--quiet", "origin", commit+":refs/heads/crafted")
	src.Commit, src.Path, src.Tree, src.Ref = commit, "", tree, "crafted"
	_, err := NewCache(t.TempDir()).Get(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), `entry named ".git"`) {
		t.Fatalf("err = %v", err)
	}
}

func gitMktree(t *testing.T, r *gittest.Repo, listing string) string {
	t.Helper()
	dir := strings.TrimSpace(r.Git("rev-parse", "--show-toplevel"))
	cmd := exec.Command("git", "mktree")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(listing)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mktree: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// A tree that names a file twice (git itself never writes one; git fsck refuses it) served
// over smart HTTP is refused, naming plugin, commit and folder; so is one out of git's order.
// Before, the later entry silently won.
func TestTreesGitFsckRefusesAreRefused(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRepo(t, root, "p.git")
	r.Write(map[string]string{"sub/a.txt": "a", "sub/b.txt": "b"})
	r.Commit("first")
	blob := func(name string) []byte {
		return mustHex(t, strings.TrimSpace(r.Git("rev-parse", "HEAD:sub/"+name+".txt")))
	}
	entry := func(name string, hash []byte) []byte {
		return append([]byte("100644 "+name+"\x00"), hash...)
	}
	srv := gittest.NewServer(t, root)
	for name, c := range map[string]struct {
		entries [][]byte
		want    string
	}{
		"duplicate": {[][]byte{entry("a.txt", blob("a")), entry("a.txt", blob("b"))}, `"a.txt" twice in "/sub"`},
		"file-and-folder": {[][]byte{entry("a.txt", blob("a")), append([]byte("40000 a.txt\x00"), mustHex(t, strings.TrimSpace(r.Git("rev-parse", "HEAD:sub")))...)},
			`"a.txt" twice in "/sub"`},
		"unsorted": {[][]byte{entry("b.txt", blob("b")), entry("a.txt", blob("a"))}, `"a.txt" out of git's order in "/sub"`},
	} {
		t.Run(name, func(t *testing.T) {
			sub := hashObject(t, r, "tree", bytes.Join(c.entries, nil))
			rootTree := hashObject(t, r, "tree", append([]byte("40000 sub\x00"), mustHex(t, sub)...))
			commit := strings.TrimSpace(r.Git("commit-tree", rootTree, "-m", "crafted "+name))
			r.Git("push", "--quiet", "origin", commit+":refs/heads/"+name)
			// Real git's answer first: fsck refuses the tree.
			if out, err := exec.Command("git", "-C", r.Bare, "fsck", "--no-dangling").CombinedOutput(); err == nil {
				t.Fatalf("git fsck accepts the %s tree:\n%s", name, out)
			}
			src := Source{Name: "p", URL: srv.URL + "/p.git", Ref: name, Commit: commit, Path: "sub", Tree: sub}
			_, err := NewCache(t.TempDir()).Get(context.Background(), src)
			if !usererr.Is(err) || !strings.Contains(err.Error(), "plugin p: commit "+commit) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a usage error naming plugin, commit and %s", err, c.want)
			}
		})
	}
}

// hashObject writes raw as an object of type typ without git's checks (git mktree would
// refuse what these tests need) and returns its hash.
func hashObject(t *testing.T, r *gittest.Repo, typ string, raw []byte) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "-t", typ, "--literally", "-w", "--stdin")
	cmd.Dir, cmd.Stdin = strings.TrimSpace(r.Git("rev-parse", "--show-toplevel")), bytes.NewReader(raw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hash-object: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func mustHex(t *testing.T, h string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A local plugin's file is read twice: hashed for the lock check, streamed into the layer.
// Bytes changed in between (same size) fail the stream at its end instead of entering the
// layer as something graft.lock does not pin.
func TestLocalFileChangedDuringTheBuildFails(t *testing.T) {
	site := t.TempDir()
	dir := filepath.Join(site, "files")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(file, []byte("locked"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree, err := localtree.Read(site, dir, "files")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Local{Name: "cam", Site: site, Dir: dir, Shown: "files", Tree: tree.Hash}.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := content(t, res.Files[0]); err != nil || got != "locked" {
		t.Fatalf("got %q, %v", got, err)
	}
	if err := os.WriteFile(file, []byte("LOCKED"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := content(t, res.Files[0]); err == nil || !strings.Contains(err.Error(), "plugin cam: files/a.txt changed while graft built it") {
		t.Fatalf("err = %v", err)
	}
}
