// Package artifact fetches plugins that are not git repositories — a file or archive over HTTP
// (url), a Maven artifact (maven), an OCI artifact or image (oci) — into a cache keyed by
// content, and unpacks them safely (package internal/unpack) into a folder whose git tree hash
// graft.lock pins. `graft lock` and `graft build` both go through Store.Get, so what the lock
// hashed is exactly what the build installs.
//
// Cache layout under the cache root: blobs/sha256/<hex> (downloaded files and OCI blobs, named by
// their sha256 and checked against it before use) and unpacked/<id> (a blob unpacked with given
// options, checked against the locked tree hash whenever it is read). Either may be deleted at
// any time.
package artifact

import (
	"context"
	"crypto/sha1" //nolint:gosec // Maven repositories publish sha1 checksums; sha256 pins the content
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/unpack"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile/filetree"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// Request is one plugin's source, to lock (Digest empty) or as locked.
type Request struct {
	Plugin string // for messages
	Kind   string // "url", "maven" or "oci"

	// url, maven: the file to download (mirrors applied; may carry credentials) and its name.
	URL      string
	FileName string
	// Checksums (maven): the repository's URL.sha256 or URL.sha1 must match the file.
	Checksums bool

	// oci: the artifact or image.
	Ref imageref.Ref

	Digest string // sha256:… the file (or manifest) must have; "" to learn it
	Size   int64  // the file's length, when known
	Tree   string // the unpacked tree the lock pins; "" to learn it

	Extract bool   // url, maven: unpack the file as an archive (else install it as it is)
	Strip   int    // leading components dropped from archive entries
	Path    string // folder of the archive (after Strip) to install
}

// Result is a fetched and unpacked source.
type Result struct {
	Digest  string         // sha256:… of the file, or of the OCI manifest
	Size    int64          // the file's length (url, maven)
	Tree    *filetree.Tree // the unpacked folder
	Fetched bool           // something was downloaded (not all from the cache)
}

// Store fetches and unpacks into a cache folder.
type Store struct {
	dir    string
	env    func(string) string
	client *http.Client
	image  []imageref.Option
	limits unpack.Limits

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Option configures a Store.
type Option func(*Store)

// WithEnv looks credentials up (GRAFT_GIT_TOKEN…, NETRC, HOME) in env instead of the process's.
func WithEnv(env func(string) string) Option { return func(s *Store) { s.env = env } }

// WithImageOptions passes registry options (transport, keychain) to OCI sources, as for the base.
func WithImageOptions(opts ...imageref.Option) Option {
	return func(s *Store) { s.image = append(s.image, opts...) }
}

// WithLimits bounds what one source may unpack to (default unpack.DefaultLimits); the download
// itself is bounded by the same byte count.
func WithLimits(l unpack.Limits) Option { return func(s *Store) { s.limits = l } }

// WithHTTPClient replaces the HTTP client (default: one shared pool of connections).
func WithHTTPClient(c *http.Client) Option { return func(s *Store) { s.client = c } }

// New keeps its cache under dir (graft's cache root).
func New(dir string, opts ...Option) *Store {
	s := &Store{dir: dir, env: os.Getenv, client: defaultClient, limits: unpack.DefaultLimits, locks: map[string]*sync.Mutex{}}
	for _, o := range opts {
		o(s)
	}
	if s.limits.Bytes <= 0 {
		s.limits.Bytes = unpack.DefaultLimits.Bytes
	}
	return s
}

var defaultClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}()}

// lock serialises work on one cache entry within this process (plugins sharing a source).
func (s *Store) lock(key string) func() {
	s.mu.Lock()
	m, ok := s.locks[key]
	if !ok {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Get fetches req's source (from the cache when it holds it) and unpacks it. With req.Digest
// or req.Size set, content that differs is refused; with req.Tree set, an unpacked folder that
// differs is unpacked again from the checked blob, and refused if it still differs.
func (s *Store) Get(ctx context.Context, req Request) (*Result, error) {
	switch req.Kind {
	case "url", "maven":
		return s.getFile(ctx, req)
	case "oci":
		return s.getOCI(ctx, req)
	}
	return nil, fmt.Errorf("plugin %s: source kind %q is not fetched by package artifact", req.Plugin, req.Kind)
}

func (s *Store) getFile(ctx context.Context, req Request) (*Result, error) {
	blob, fetched, err := s.file(ctx, req)
	if err != nil {
		return nil, err
	}
	id := unpackID("file", blob.digest, req.Extract, req.FileName, req.Strip, req.Path)
	tree, err := s.unpacked(id, req, func(dest string) error { return s.unpackFile(blob, dest, req) })
	if err != nil {
		return nil, err
	}
	return &Result{Digest: blob.digest, Size: blob.size, Tree: tree, Fetched: fetched}, nil
}

// blob is a file in the blob cache.
type blob struct {
	path   string
	digest string // sha256:…
	size   int64
}

func (s *Store) blobPath(digest string) string {
	algo, hexd, _ := cutDigest(digest)
	return filepath.Join(s.dir, "blobs", algo, hexd)
}

func cutDigest(d string) (string, string, bool) {
	for i := 0; i < len(d); i++ {
		if d[i] == ':' {
			return d[:i], d[i+1:], true
		}
	}
	return "", "", false
}

// cached returns the blob of digest when the cache holds one of the right size.
func (s *Store) cached(digest string, size int64) (*blob, bool) {
	if digest == "" {
		return nil, false
	}
	p := s.blobPath(digest)
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() || (size > 0 && st.Size() != size) {
		return nil, false
	}
	return &blob{path: p, digest: digest, size: st.Size()}, true
}

// store writes r into the blob cache, hashing it: want (when set) must match, and at most
// limit bytes are read. It returns the blob and the sha1 of its content (for Maven checks).
func (s *Store) store(r io.Reader, want string, limit int64, what string) (*blob, string, error) {
	dir := filepath.Join(s.dir, "blobs", "sha256")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("artifact cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".download-")
	if err != nil {
		return nil, "", fmt.Errorf("artifact cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	h256, h1 := sha256.New(), sha1.New()
	n, err := io.Copy(io.MultiWriter(tmp, h256, h1), io.LimitReader(r, limit+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", err
	}
	if n > limit {
		return nil, "", usererr.New("%s is larger than %d bytes, graft's limit for a plugin's file; a server sending that much is refused", what, limit)
	}
	digest := "sha256:" + hex.EncodeToString(h256.Sum(nil))
	if want != "" && digest != want {
		return nil, "", &MismatchError{What: what, Want: want, Got: digest}
	}
	b := &blob{path: s.blobPath(digest), digest: digest, size: n}
	if err := os.Rename(tmp.Name(), b.path); err != nil {
		return nil, "", fmt.Errorf("artifact cache: %w", err)
	}
	return b, hex.EncodeToString(h1.Sum(nil)), nil
}

// MismatchError is content whose sha256 is not the one expected (the lock's or plugin.toml's):
// the server now sends something else, or lies.
type MismatchError struct{ What, Want, Got string }

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s has sha256 %s, but %s was expected", e.What, e.Got, e.Want)
}

// verify re-hashes a cached blob: the cache is a folder anyone on the machine might change.
func (b *blob) verify() error {
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != b.digest {
		return fmt.Errorf("the cached file %s holds content whose sha256 is %s; delete it (rm %s) and run graft again", b.path, got, b.path)
	}
	return nil
}

// unpackID names an unpacked folder by everything its content depends on.
func unpackID(parts ...any) string {
	h := sha256.New()
	fmt.Fprint(h, "graft unpack 1")
	for _, p := range parts {
		fmt.Fprintf(h, "\x00%v", p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// unpacked returns the folder unpacked/<id>, filling it with fill when it is missing (or holds
// another tree than req.Tree: a changed cache entry is made again once).
func (s *Store) unpacked(id string, req Request, fill func(dest string) error) (*filetree.Tree, error) {
	unlock := s.lock(id)
	defer unlock()
	dest := filepath.Join(s.dir, "unpacked", id)
	shown := fmt.Sprintf("plugin %s: unpacked %s", req.Plugin, dest)
	if _, err := os.Lstat(dest); err == nil {
		t, err := filetree.Read(dest, filetree.Options{Shown: shown})
		if err == nil && (req.Tree == "" || t.Hash == req.Tree) {
			return t, nil
		}
		if err := os.RemoveAll(dest); err != nil {
			return nil, fmt.Errorf("artifact cache: %w", err)
		}
	}
	parent := filepath.Dir(dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".unpack-")
	if err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return nil, fmt.Errorf("plugin %s: %w", req.Plugin, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("artifact cache: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		if _, serr := os.Lstat(dest); serr != nil {
			return nil, fmt.Errorf("artifact cache: %w", err)
		} // another graft process unpacked it first
	}
	t, err := filetree.Read(dest, filetree.Options{Shown: shown})
	if err == nil && req.Tree != "" && t.Hash != req.Tree {
		return nil, usererr.New("plugin %s: %s unpacks to tree %s, but graft.lock says %s; graft.lock was edited by hand or is damaged: run `graft lock`",
			req.Plugin, shownURL(req), t.Hash, req.Tree)
	}
	return t, err
}

// unpackFile writes a downloaded file into dest: unpacked, or as it is under its file name.
func (s *Store) unpackFile(b *blob, dest string, req Request) error {
	if err := b.verify(); err != nil {
		return err
	}
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	x, err := unpack.New(dest, unpack.Options{Shown: shownURL(req), Strip: req.Strip, Path: req.Path, Limits: s.limits})
	if err != nil {
		return err
	}
	defer x.Close()
	if !req.Extract {
		return x.File(req.FileName, f, b.size)
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return x.Archive(f, b.size, unpack.Sniff(head[:n]))
}

func shownURL(req Request) string {
	if req.Kind == "oci" {
		return req.Ref.String()
	}
	return gitremote.Redact(req.URL)
}

// httpStatusError is an HTTP answer other than 200.
type httpStatusError struct {
	url    string
	status int
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s", e.url, e.status, http.StatusText(e.status))
}

// NotFound reports whether err means the server has no such file (HTTP 404 or 410).
func NotFound(err error) bool {
	var he *httpStatusError
	return errors.As(err, &he) && (he.status == http.StatusNotFound || he.status == http.StatusGone)
}

// open GETs u with the credentials git over https would use for its host.
func (s *Store) open(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", gitremote.Redact(u), errors.Unwrap(err))
	}
	if req.URL.User == nil {
		user, pass, err := gitremote.HTTPCredentials(u, s.env)
		if err != nil {
			return nil, err
		}
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
	}
	req.Header.Set("User-Agent", "graft")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", gitremote.Redact(u), redactErr(err, u))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &httpStatusError{url: gitremote.Redact(u), status: resp.StatusCode}
	}
	return resp, nil
}

// redactErr is err's text without the URL's password.
func redactErr(err error, u string) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return gitremote.Scrub(err.Error(), u)
}

// download GETs u into the blob cache, checking the length the server announced and, when set,
// the expected digest and size.
func (s *Store) download(ctx context.Context, u, want string, wantSize int64, what string) (*blob, string, error) {
	resp, err := s.open(ctx, u)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	limit := s.limits.Bytes
	if resp.ContentLength > limit {
		return nil, "", usererr.New("%s is %d bytes, over graft's limit of %d for a plugin's file", what, resp.ContentLength, limit)
	}
	b, sha1hex, err := s.store(resp.Body, want, limit, what)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, "", fmt.Errorf("%s: the server sent fewer bytes than the %d it announced; try again", what, resp.ContentLength)
		}
		return nil, "", err
	}
	if resp.ContentLength >= 0 && b.size != resp.ContentLength {
		return nil, "", fmt.Errorf("%s: the server announced %d bytes and sent %d; it lies about the size", what, resp.ContentLength, b.size)
	}
	if wantSize > 0 && b.size != wantSize {
		return nil, "", &MismatchError{What: what, Want: want + " (" + strconv.FormatInt(wantSize, 10) + " bytes)", Got: b.digest}
	}
	return b, sha1hex, nil
}

// file gets req's file into the blob cache: the cached blob of the expected digest, else a
// download (checked against the repository's checksums for maven).
func (s *Store) file(ctx context.Context, req Request) (*blob, bool, error) {
	if b, ok := s.cached(req.Digest, req.Size); ok {
		return b, false, nil
	}
	what := fmt.Sprintf("plugin %s: %s", req.Plugin, gitremote.Redact(req.URL))
	unlock := s.lock(req.URL)
	defer unlock()
	b, sha1hex, err := s.download(ctx, req.URL, req.Digest, req.Size, what)
	if err != nil {
		if NotFound(err) {
			return nil, false, &NotFoundError{err}
		}
		return nil, false, err
	}
	if req.Checksums {
		if err := s.checkSums(ctx, req.URL, b, sha1hex, what); err != nil {
			os.Remove(b.path)
			return nil, false, err
		}
	}
	return b, true, nil
}

// NotFoundError is a file the server does not have (a wrong URL, version or coordinates).
type NotFoundError struct{ Err error }

func (e *NotFoundError) Error() string { return e.Err.Error() + " (no such file)" }
func (e *NotFoundError) Unwrap() error { return e.Err }

// checkSums compares the repository's URL.sha256, else URL.sha1, with the downloaded file.
func (s *Store) checkSums(ctx context.Context, u string, b *blob, sha1hex, what string) error {
	_, hex256, _ := cutDigest(b.digest)
	for _, c := range []struct{ ext, have string }{{".sha256", hex256}, {".sha1", sha1hex}} {
		want, err := s.checksum(ctx, u+c.ext)
		if NotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if want != c.have {
			return usererr.New("%s: the repository's %s says %s but the file downloaded has %s; the repository or a proxy sends a damaged or substituted file",
				what, c.ext[1:], want, c.have)
		}
		return nil
	}
	return usererr.New("%s: the repository publishes neither %s.sha256 nor %s.sha1, so the file cannot be checked; publish them, or use a url source with sha256",
		what, gitremote.Redact(u), gitremote.Redact(u))
}

// checksum reads a checksum file: its first word, lower-cased (some tools add the file name).
func (s *Store) checksum(ctx context.Context, u string) (string, error) {
	resp, err := s.open(ctx, u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", gitremote.Redact(u), err)
	}
	word := ""
	if f := strings.Fields(string(data)); len(f) > 0 {
		word = f[0]
	}
	return strings.ToLower(word), nil
}

// Dir is the cache root the store keeps its folders in.
func (s *Store) Dir() string { return s.dir }

// Probe learns the digest req's source has now without unpacking it: an OCI reference's
// manifest digest (nothing else is downloaded), or a file's sha256 (downloaded into the blob
// cache, checked against the repository's checksums for maven).
func (s *Store) Probe(ctx context.Context, req Request) (string, error) {
	if req.Kind == "oci" {
		res, err := req.Ref.Resolve(ctx, s.image...)
		if err != nil {
			return "", &ResolveError{Plugin: req.Plugin, Err: err}
		}
		return res.Digest.String(), nil
	}
	req.Digest, req.Size = "", 0
	b, _, err := s.file(ctx, req)
	if err != nil {
		return "", err
	}
	return b.digest, nil
}
