package gitremote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Ref is one advertised reference.
type Ref struct {
	Name   string // full name: refs/heads/main, refs/tags/v1.0.0, HEAD
	Hash   string // what the ref points at: a tag object for annotated tags
	Commit string // the peeled object: the commit, also for annotated tags
}

// Remote is an open upload-pack session: the ref listing is read once at Open (one round
// trip), and Fetch reuses the session for a single shallow commit.
type Remote struct {
	url    string // as contacted (may hold credentials; never printed)
	sess   transport.UploadPackSession
	adv    *packp.AdvRefs
	refs   []Ref
	byName map[string]Ref
	secret []string // credential strings scrubbed from error messages
}

// Option configures Open.
type Option func(*openConfig)

type openConfig struct {
	auth    transport.AuthMethod
	authSet bool
	env     Env
}

// WithAuth uses auth instead of looking credentials up (nil: anonymous).
func WithAuth(auth transport.AuthMethod) Option {
	return func(c *openConfig) { c.auth, c.authSet = auth, true }
}

// WithEnv looks credentials up in env instead of the process environment.
func WithEnv(env Env) Option { return func(c *openConfig) { c.env = env } }

// Open connects to the repository at u and reads its refs.
func Open(ctx context.Context, u string, opts ...Option) (*Remote, error) {
	cfg := &openConfig{env: Env(osGetenv)}
	for _, o := range opts {
		o(cfg)
	}
	auth := cfg.auth
	if !cfg.authSet {
		var err error
		if auth, err = AuthFrom(u, cfg.env); err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", Redact(u), err)
		}
	}
	r := &Remote{url: u, secret: secretsOf(u, auth)}
	ep, err := transport.NewEndpoint(u)
	if err != nil {
		return nil, r.wrap("parse URL", err)
	}
	cli, err := client.NewClient(ep)
	if err != nil {
		return nil, r.wrap("connect", err)
	}
	sess, err := cli.NewUploadPackSession(ep, auth)
	if err != nil {
		return nil, r.wrap("connect", err)
	}
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		sess.Close()
		return nil, r.wrap("list refs", err)
	}
	r.sess, r.adv = sess, adv
	r.indexRefs()
	return r, nil
}

func (r *Remote) indexRefs() {
	r.byName = map[string]Ref{}
	for name, h := range r.adv.References {
		ref := Ref{Name: name, Hash: h.String(), Commit: h.String()}
		if p, ok := r.adv.Peeled[name]; ok {
			ref.Commit = p.String()
		}
		r.byName[name] = ref
	}
	if r.adv.Head != nil {
		r.byName["HEAD"] = Ref{Name: "HEAD", Hash: r.adv.Head.String(), Commit: r.adv.Head.String()}
	}
	for _, ref := range r.byName {
		r.refs = append(r.refs, ref)
	}
	sort.Slice(r.refs, func(i, j int) bool { return r.refs[i].Name < r.refs[j].Name })
}

// Close ends the session.
func (r *Remote) Close() error { return r.sess.Close() }

// URL is the contacted URL without credentials, for messages.
func (r *Remote) URL() string { return Redact(r.url) }

// Refs lists every advertised ref, sorted by name.
func (r *Remote) Refs() []Ref { return r.refs }

// Ref returns the ref with the full name, if advertised.
func (r *Remote) Ref(name string) (Ref, bool) {
	ref, ok := r.byName[name]
	return ref, ok
}

// TagsAt lists the tags (short names, sorted) whose peeled commit is commit.
func (r *Remote) TagsAt(commit string) []string {
	var tags []string
	for _, ref := range r.refs {
		if strings.HasPrefix(ref.Name, "refs/tags/") && ref.Commit == commit {
			tags = append(tags, strings.TrimPrefix(ref.Name, "refs/tags/"))
		}
	}
	return tags
}

// Commit is what Fetch reads from a commit.
type Commit struct {
	Hash  string
	Title string      // first line of the message
	Tree  string      // tree hash of the requested path
	Top   []TreeEntry // the entries of that tree
}

// TreeEntry is a name in a tree.
type TreeEntry struct {
	Name string
	File bool // a regular or executable file (not a folder, symlink or submodule)
}

// ErrPathNotFound means the requested path is not a folder in the commit.
var ErrPathNotFound = errors.New("path not found")

// Fetch downloads commit alone (depth 1, no tags, no blobs where the server allows) into memory and reads its title and the
// tree hash of path ("" is the root). A commit no ref points at needs a server that allows
// fetching reachable commits by SHA (GitHub, GitLab, git over HTTP do).
func (r *Remote) Fetch(ctx context.Context, commit, path string) (*Commit, error) {
	hash := plumbing.NewHash(commit)
	req := packp.NewUploadPackRequestFromCapabilities(r.adv.Capabilities)
	req.Wants = []plumbing.Hash{r.want(commit)}
	req.Depth = packp.DepthCommits(1)
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return nil, r.wrap("fetch "+commit, err)
	}
	if r.adv.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if r.adv.Capabilities.Supports(capability.Filter) {
		// Only the commit and its trees are read: leave the blobs on the server where it
		// allows partial fetches (GitHub, GitLab; git with uploadpack.allowFilter).
		if err := req.Capabilities.Set(capability.Filter); err == nil {
			req.Filter = packp.FilterBlobNone()
		}
	}
	st := memory.NewStorage()
	if err := r.download(ctx, req, st); err != nil {
		return nil, r.wrap("fetch "+commit, err)
	}
	c, err := object.GetCommit(st, hash)
	if err != nil {
		return nil, r.wrap("read commit "+commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, r.wrap("read tree of "+commit, err)
	}
	if path != "" {
		if tree, err = tree.Tree(path); err != nil {
			return nil, fmt.Errorf("%w: %q is not a folder in commit %s of %s", ErrPathNotFound, path, commit, r.URL())
		}
	}
	title, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	out := &Commit{Hash: commit, Title: strings.TrimSpace(title), Tree: tree.Hash.String()}
	for _, e := range tree.Entries {
		out.Top = append(out.Top, TreeEntry{Name: e.Name, File: e.Mode == filemode.Regular || e.Mode == filemode.Executable || e.Mode == filemode.Deprecated})
	}
	return out, nil
}

// Refused reports whether err is a server's refusal to send an object it was asked for by
// hash ("not our ref"): it has no such object, or hands out only what refs point at.
func Refused(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.err != nil && strings.Contains(e.err.Error(), "not our ref")
}

// ServesReachable reports whether the server sends any commit a branch or tag reaches when
// asked for it by hash (it says allow-reachable-sha1-in-want, which allowAnySHA1InWant also
// sets; smart HTTP is stateless, where git upload-pack does so regardless): then Refused means
// it has no such commit.
func (r *Remote) ServesReachable() bool {
	caps := r.adv.Capabilities
	return caps.Supports(capability.AllowReachableSHA1InWant) || strings.HasPrefix(r.url, "http://") || strings.HasPrefix(r.url, "https://")
}

// want picks what to ask the server for: the commit when a ref points at it, else an annotated
// tag that peels to it (servers only hand out advertised objects by default), else the bare
// commit (needs allow-reachable-sha1-in-want, or stateless HTTP).
func (r *Remote) want(commit string) plumbing.Hash {
	for _, ref := range r.refs {
		if ref.Hash == commit {
			return plumbing.NewHash(commit)
		}
	}
	for _, ref := range r.refs {
		if ref.Commit == commit {
			return plumbing.NewHash(ref.Hash)
		}
	}
	return plumbing.NewHash(commit)
}

func (r *Remote) download(ctx context.Context, req *packp.UploadPackRequest, st *memory.Storage) (err error) {
	resp, err := r.sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := resp.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	var rd io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		rd = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		rd = sideband.NewDemuxer(sideband.Sideband, resp)
	}
	return storeMeta(rd, st)
}

// wrap names the step and the URL (credentials stripped), turns go-git's transport errors into
// advice, and scrubs any credential that found its way into the text.
func (r *Remote) wrap(step string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		msg = "authentication required: set " + EnvToken + " (or " + HostTokenVar(hostOf(r.url)) + "), add the host to ~/.netrc, or use ssh"
	case errors.Is(err, transport.ErrAuthorizationFailed):
		msg = "credentials refused: check the token or password for this host"
	case errors.Is(err, transport.ErrRepositoryNotFound):
		msg = "repository not found (or not visible with these credentials)"
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		msg = "repository is empty: it has no branches or tags"
	case strings.Contains(msg, "not our ref"):
		msg = "the server does not hand out commits that no branch or tag points at; " +
			"use a branch or tag as ref (or enable uploadpack.allowReachableSHA1InWant on the server)"
	}
	for _, s := range r.secret {
		msg = strings.ReplaceAll(msg, s, "***")
	}
	msg = userinfoRE.ReplaceAllString(msg, "://")
	return &Error{URL: r.URL(), Step: step, Msg: msg, err: err}
}

// userinfoRE finds "scheme://user[:password]@" inside error texts (e.g. net/http's).
var userinfoRE = regexp.MustCompile(`://[^/@\s"]+@`)

func hostOf(u string) string {
	if parsed, err := url.Parse(u); err == nil && parsed.Host != "" {
		return parsed.Host
	}
	return "HOST"
}

// Error is a failure talking to one repository; its text never holds credentials.
type Error struct {
	URL  string
	Step string
	Msg  string
	err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %s", e.URL, e.Step, e.Msg) }

// Unwrap gives go-git's error for errors.Is checks (its text is not shown).
func (e *Error) Unwrap() error { return e.err }
