// Package gittest gives tests real git repositories and a real smart-HTTP git server
// (`git http-backend` behind net/http/cgi on 127.0.0.1), so lock and fetch code is tested against
// the protocol real forges speak rather than a mock.
package gittest

import (
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a bare repository with a scratch work tree for making commits.
type Repo struct {
	t    testing.TB
	Bare string // path of the bare repository
	work string
}

// NewRepo creates an empty bare repository named name (e.g. "plugin-a.git") under root,
// with a work tree beside it. The default branch is main.
func NewRepo(t testing.TB, root, name string) *Repo {
	t.Helper()
	RequireGit(t)
	r := &Repo{t: t, Bare: filepath.Join(root, name), work: filepath.Join(root, ".work", name)}
	r.git(root, "init", "--quiet", "--bare", "--initial-branch=main", r.Bare)
	r.git(root, "init", "--quiet", "--initial-branch=main", r.work)
	r.git(r.work, "remote", "add", "origin", r.Bare)
	// Allow fetching a bare SHA, like GitHub and GitLab do.
	r.git(r.Bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	r.git(r.Bare, "config", "http.receivepack", "true")
	return r
}

// URL is the repository's file:// URL.
func (r *Repo) URL() string { return "file://" + r.Bare }

// Write writes files (path -> content) into the work tree. A path ending in "@x" is made
// executable: "hooks/run.sh@x".
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "@x") {
			name, mode = strings.TrimSuffix(name, "@x"), 0o755
		}
		p := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			r.t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Symlink adds a symbolic link name -> target in the work tree.
func (r *Repo) Symlink(name, target string) {
	r.t.Helper()
	p := filepath.Join(r.work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatal(err)
	}
}

// Commit commits everything in the work tree on the current branch and pushes it;
// it returns the commit SHA.
func (r *Repo) Commit(msg string) string {
	r.t.Helper()
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "--quiet", "--allow-empty", "-m", msg)
	r.git(r.work, "push", "--quiet", "--force", "origin", "HEAD")
	return r.Head()
}

// Head is the SHA of the work tree's HEAD.
func (r *Repo) Head() string {
	r.t.Helper()
	return strings.TrimSpace(r.git(r.work, "rev-parse", "HEAD"))
}

// Branch switches the work tree to branch, creating it at the current commit when new.
func (r *Repo) Branch(name string) {
	r.t.Helper()
	r.git(r.work, "checkout", "--quiet", "-B", name)
}

// Reset moves the current branch to commit (for force-push scenarios; push with Commit or Push).
func (r *Repo) Reset(commit string) {
	r.t.Helper()
	r.git(r.work, "reset", "--quiet", "--hard", commit)
}

// Push force-pushes the current branch.
func (r *Repo) Push() {
	r.t.Helper()
	r.git(r.work, "push", "--quiet", "--force", "origin", "HEAD")
}

// Tag creates (or moves, with force) a lightweight tag at HEAD and pushes it.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	r.git(r.work, "tag", "-f", name)
	r.git(r.work, "push", "--quiet", "--force", "origin", "refs/tags/"+name)
}

// AnnotatedTag creates (or moves) an annotated tag at HEAD and pushes it.
func (r *Repo) AnnotatedTag(name, msg string) {
	r.t.Helper()
	r.git(r.work, "tag", "-f", "-a", name, "-m", msg)
	r.git(r.work, "push", "--quiet", "--force", "origin", "refs/tags/"+name)
}

// DeleteTag deletes a tag on the remote.
func (r *Repo) DeleteTag(name string) {
	r.t.Helper()
	r.git(r.work, "push", "--quiet", "origin", ":refs/tags/"+name)
	r.git(r.work, "tag", "-d", name)
}

// Git runs git in the work tree and returns its output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return r.git(r.work, args...)
}

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	return Git(r.t, dir, args...)
}

// Git runs git in dir with a fixed identity and no system or user configuration, for tests
// that commit in a folder of their own (a site repository); it fails the test on an error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=graft test", "GIT_AUTHOR_EMAIL=test@graft.invalid",
		"GIT_COMMITTER_NAME=graft test", "GIT_COMMITTER_EMAIL=test@graft.invalid",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Server is a smart-HTTP git server over a folder of bare repositories.
type Server struct {
	URL string // http://127.0.0.1:PORT; a repo "x.git" under root is URL+"/x.git"
	srv *httptest.Server
}

// ServerOption configures NewServer.
type ServerOption func(*serverConfig)

type serverConfig struct {
	private map[string][2]string // repo name -> user, password
	wrap    func(http.Handler) http.Handler
}

// WithBasicAuth requires user:password for the repository named repo (e.g. "private.git").
func WithBasicAuth(repo, user, password string) ServerOption {
	return func(c *serverConfig) { c.private[repo] = [2]string{user, password} }
}

// WithMiddleware wraps the handler, e.g. to add latency or count requests.
func WithMiddleware(wrap func(http.Handler) http.Handler) ServerOption {
	return func(c *serverConfig) { c.wrap = wrap }
}

// NewServer serves every bare repository under root over smart HTTP on 127.0.0.1.
func NewServer(t testing.TB, root string, opts ...ServerOption) *Server {
	t.Helper()
	RequireGit(t)
	h, err := Handler(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &serverConfig{private: map[string][2]string{}}
	for _, o := range opts {
		o(cfg)
	}
	h = authHandler(cfg.private, h)
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{URL: srv.URL, srv: srv}
}

// Handler is git's smart-HTTP server over every bare repository under root: `git
// http-backend` behind net/http/cgi, as forges serve it. NewServer serves it on 127.0.0.1;
// the bench serves it with latency of its own.
func Handler(root string) (http.Handler, error) {
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git --exec-path: %w (is git installed?)", err)
	}
	return &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Root: "/",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"},
	}, nil
}

func authHandler(private map[string][2]string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for repo, cred := range private {
			if !strings.HasPrefix(r.URL.Path, "/"+repo) {
				continue
			}
			u, p, ok := r.BasicAuth()
			if !ok || u != cred[0] || p != cred[1] {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// RequireGit skips the test when git is not installed, failing under CI instead.
func RequireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git is required under CI: %v", err)
		}
		t.Skipf("skipping: git not installed: %v", err)
	}
}
