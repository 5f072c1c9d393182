package publish

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/daemon"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sync/errgroup"

	"github.com/graft-build/graft/internal/flagspec"
	"github.com/graft-build/graft/internal/usererr"
)

// RemoteOption configures registry access (tests pass a transport; graft uses the defaults).
type RemoteOption = remote.Option

// ---- type=oci

type layoutOut struct {
	dest  string
	names layoutNames
}

func newLayout(s flagspec.Spec, o Options) (Publisher, error) {
	if err := s.Only("dest", "name", "tar"); err != nil {
		return nil, err
	}
	if s.Attrs["tar"] != "" && s.Attrs["tar"] != "false" && s.Attrs["tar"] != "true" {
		return nil, usererr.New("--output %q: tar=%s: write tar=true (one tar file) or tar=false (a layout folder)", s.Raw, s.Attrs["tar"])
	}
	if s.Attrs["dest"] == "" {
		return nil, usererr.New("--output %q: type=oci needs dest=DIR or dest=FILE.tar", s.Raw)
	}
	names := layoutNames{tag: "latest"}
	if n := firstNonEmpty(s.Attrs["name"], o.DefaultName); n != "" {
		t, err := tagOf(n, s.Raw)
		if err != nil {
			return nil, err
		}
		names = layoutNames{tag: t.TagStr(), full: fullName(t)}
	}
	if wantsTar(s.Attrs) {
		return &ociTarOut{dest: absDest(s.Attrs["dest"], o.BaseDir), names: names}, nil
	}
	return &layoutOut{dest: absDest(s.Attrs["dest"], o.BaseDir), names: names}, nil
}

func (l *layoutOut) Target() Target { return Target{Path: l.dest} }

func (l *layoutOut) String() string { return "oci-layout://" + l.dest + ":" + l.names.tag }

// Publish writes a fresh layout beside dest and swaps it in, so dest is never half-written.
// Builds writing one dest at once take turns at the swap (a lock file beside dest), and
// where the filesystem can exchange two folders atomically dest is never missing either. The
// context is checked up to the swap: a build interrupted before it leaves dest as it was.
func (l *layoutOut) Publish(ctx context.Context, a Artifact, _ io.Writer) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := refuseNonLayout(l.dest); err != nil {
		return "", err
	}
	parent := filepath.Dir(l.dest)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("output %s: %w", l.dest, err)
	}
	tmp, err := os.MkdirTemp(parent, ".graft-oci-")
	if err != nil {
		return "", fmt.Errorf("output %s: %w", l.dest, err)
	}
	defer os.RemoveAll(tmp) // after a swap, the previous layout
	if err := writeLayout(tmp, a, l.names); err != nil {
		return "", fmt.Errorf("output %s: %w", l.dest, err)
	}
	unlock, err := lockBeside(ctx, l.dest)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", l.dest, err)
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return "", err // the last moment an interrupt can stop the output
	}
	if err := refuseNonLayout(l.dest); err != nil {
		return "", err
	}
	if err := swap(tmp, l.dest); err != nil {
		return "", fmt.Errorf("output %s: %w", l.dest, err)
	}
	return l.String(), nil
}

// blobFiler is a layer whose blob is a file graft may link (builder/layer's cached layers).
type blobFiler interface {
	BlobFile() (string, error)
}

// linkBlobs hard-links every layer blob that is already a file in graft's layer cache into
// the layout, so that writing the layout reads none of them (ggcr skips a blob that exists
// with its size). Where a link cannot be made (another filesystem), ggcr copies the blob,
// streaming. The links share the cache's inodes: the cache re-checks a blob whose mtime
// changed before it serves or links it again.
func linkBlobs(dir string, a Artifact) error {
	images, err := artifactImages(a)
	if err != nil {
		return err
	}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	for _, img := range images {
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			bf, ok := l.(blobFiler)
			if !ok {
				continue
			}
			file, err := bf.BlobFile()
			if err != nil {
				return err
			}
			d, err := l.Digest()
			if err != nil || file == "" || d.Algorithm != "sha256" {
				continue
			}
			dest := filepath.Join(blobs, d.Hex)
			if err := os.Link(file, dest); err != nil && !errors.Is(err, fs.ErrExist) {
				continue // ggcr copies it
			}
		}
	}
	return nil
}

// artifactImages lists the images of a (one, or an index's).
func artifactImages(a Artifact) ([]v1.Image, error) {
	if a.Index == nil {
		return []v1.Image{a.Image}, nil
	}
	m, err := a.Index.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []v1.Image
	for _, d := range m.Manifests {
		img, err := a.Index.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

// refuseNonLayout protects a folder that is not an earlier output (dest=. would be the site).
func refuseNonLayout(dest string) error {
	entries, err := os.ReadDir(dest)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dest, "oci-layout")); err == nil {
		return nil
	}
	return usererr.New("output %s exists and is not an OCI layout; give dest a new or empty folder", dest)
}

// swap puts the folder tmp at dest; the previous dest, if any, ends up at tmp. Where the
// kernel and filesystem can (Linux renameat2 RENAME_EXCHANGE), both names swap in one step,
// so readers always find a whole dest; elsewhere dest is moved aside first.
func swap(tmp, dest string) error {
	err := exchange(tmp, dest)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return os.Rename(tmp, dest) // no dest yet
	case !errors.Is(err, errNoExchange):
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(dest, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	return os.Rename(old, tmp)
}

// errNoExchange: the system cannot swap two names atomically.
var errNoExchange = errors.New("atomic exchange not supported")

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// ---- type=docker

type tarballOut struct {
	dest string
	tag  name.Tag
}

func newTarball(s flagspec.Spec, o Options) (Publisher, error) {
	if err := s.Only("dest", "name"); err != nil {
		return nil, err
	}
	if s.Attrs["dest"] == "" {
		return nil, usererr.New("--output %q: type=docker needs dest=FILE", s.Raw)
	}
	n := firstNonEmpty(s.Attrs["name"], o.DefaultName)
	if n == "" {
		return nil, usererr.New("--output %q: type=docker needs name=REF (or name in graft.toml)", s.Raw)
	}
	t, err := tagOf(n, s.Raw)
	if err != nil {
		return nil, err
	}
	return &tarballOut{dest: absDest(s.Attrs["dest"], o.BaseDir), tag: t}, nil
}

func (t *tarballOut) Target() Target { return Target{Path: t.dest} }

func (t *tarballOut) String() string { return t.dest + " (" + t.tag.String() + ")" }

// Publish writes a `docker load` tar through a temporary file in the same folder, renamed
// over dest: concurrent builds to one dest each replace it whole (the last one wins), and the
// context is checked up to the rename.
func (t *tarballOut) Publish(ctx context.Context, a Artifact, progress io.Writer) (string, error) {
	img, plat, err := platformImage(a)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if plat != "" {
		fmt.Fprintf(progress, "output %s holds one platform: %s\n", t.dest, plat)
	}
	if err := os.MkdirAll(filepath.Dir(t.dest), 0o755); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	f, err := os.CreateTemp(filepath.Dir(t.dest), ".graft-docker-*.tar")
	if err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	defer os.Remove(f.Name())
	if err := tarball.Write(t.tag, img, f); err != nil {
		f.Close()
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	// CreateTemp makes the file 0600; the tar is an artifact others load (CI jobs, other users).
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), t.dest); err != nil {
		return "", fmt.Errorf("output %s: %w", t.dest, err)
	}
	return t.String(), nil
}

// ---- type=registry

type registryOut struct {
	tag  name.Tag
	jobs int
	opts []remote.Option
}

func newRegistry(s flagspec.Spec, o Options) (Publisher, error) {
	if err := s.Only("name", "push"); err != nil {
		return nil, err
	}
	n := firstNonEmpty(s.Attrs["name"], o.DefaultName)
	if n == "" {
		return nil, usererr.New("--output %q: type=registry needs name=REF (or name in graft.toml)", s.Raw)
	}
	t, err := tagOf(n, s.Raw)
	if err != nil {
		return nil, err
	}
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	return &registryOut{tag: t, jobs: jobs, opts: o.Remote}, nil
}

func (r *registryOut) Target() Target {
	repo := r.tag.Context()
	return Target{Repository: &repo}
}

func (r *registryOut) String() string { return r.tag.String() }

// Publish pushes the image and its attachments. The registry's handshake is made once; the
// image's blobs and the attachments' go at once (each blob asked for first, and sent only when
// the registry lacks it), while the registry is asked what it holds of the attachments
// (referrers API, fallback tag, cosign's tags); then the image's manifest, then the
// attachments' manifests together, then the fallback tag where there is no referrers API.
func (r *registryOut) Publish(ctx context.Context, a Artifact, progress io.Writer) (string, error) {
	sent := &countingTransport{base: remote.DefaultTransport}
	rt, err := r.connect(ctx, sent)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", r.tag, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithJobs(r.jobs)}, r.opts...)
	p, err := remote.NewPusher(opts...)
	if err != nil {
		return "", err
	}
	repo := r.tag.Context()
	at, err := newAttaching(repo, rt, a)
	if err != nil {
		return "", fmt.Errorf("push %s: attestations: %w", r.tag, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := r.pushArtifact(gctx, p, a, opts); err != nil {
			return fmt.Errorf("push %s: %w", r.tag, err)
		}
		return nil
	})
	if at != nil {
		g.Go(func() error {
			if err := at.prepare(gctx, p, opts); err != nil {
				return fmt.Errorf("push %s: attestations: %w", r.tag, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	d, err := a.Digest()
	if err != nil {
		return "", err
	}
	if at != nil {
		if err := at.commit(ctx, p, progress); err != nil {
			return "", fmt.Errorf("push %s: attestations: %w", r.tag, err)
		}
	}
	for _, line := range sent.report(a.Names) {
		fmt.Fprintf(progress, "push   %s\n", line)
	}
	fmt.Fprintf(progress, "push   %s: sent %d bytes (blobs the registry had were skipped)\n", r.tag, sent.n.Load())
	return repo.Digest(d.String()).String(), nil
}

// connect makes the registry's handshake (ping, token) for pushing to the repository, once for
// every request of the push; the transport retries what ggcr's own retries.
func (r *registryOut) connect(ctx context.Context, base http.RoundTripper) (http.RoundTripper, error) {
	repo := r.tag.Context()
	auth, err := authn.DefaultKeychain.Resolve(repo)
	if err != nil {
		return nil, err
	}
	retry := transport.NewRetry(base, transport.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout))
	return transport.NewWithContext(ctx, repo.Registry, auth, retry, []string{repo.Scope(transport.PushScope)})
}

// pushArtifact writes an image's blobs at once, then its manifest under the tag, without first
// asking whether the tag holds it (a PUT of the same manifest changes nothing); an index goes
// through ggcr's remote.WriteIndex. a.BlobsPushed is called once the blobs are in.
func (r *registryOut) pushArtifact(ctx context.Context, p *remote.Pusher, a Artifact, opts []remote.Option) error {
	pushed := func() {
		if a.BlobsPushed != nil {
			a.BlobsPushed(r.tag.Context())
		}
	}
	if a.Index != nil {
		err := remote.WriteIndex(r.tag, a.Index, append(opts, remote.WithContext(ctx), remote.Reuse(p))...)
		if err == nil {
			pushed()
		}
		return err
	}
	if err := uploadBlobs(ctx, p, r.tag.Context(), a.Image); err != nil {
		return err
	}
	pushed()
	return p.Put(ctx, r.tag, a.Image)
}

// uploadBlobs sends img's layers and config at once through p (which asks for each first and
// sends only what the repository lacks, and sends a blob once however often it is asked to).
func uploadBlobs(ctx context.Context, p *remote.Pusher, repo name.Repository, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, l := range append(layers, cfg) {
		g.Go(func() error { return p.Upload(gctx, repo, l) })
	}
	return g.Wait()
}

// countingTransport counts the request body bytes sent (uploads) and notes which blobs were
// uploaded (the final PUT of a blob upload names its digest), for the progress lines.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
	mu   sync.Mutex
	put  map[string]bool
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &countingBody{ReadCloser: req.Body, n: &c.n}
	}
	if d := req.URL.Query().Get("digest"); req.Method == http.MethodPut && d != "" {
		c.mu.Lock()
		if c.put == nil {
			c.put = map[string]bool{}
		}
		c.put[d] = true
		c.mu.Unlock()
	}
	return c.base.RoundTrip(req)
}

// report says for each named layer whether it was sent, sorted by name.
func (c *countingTransport) report(names map[v1.Hash]string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lines []string
	for d, name := range names {
		how := "already in the registry"
		if c.put[d.String()] {
			how = "sent"
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", name, d.Hex[:12], how))
	}
	sort.Strings(lines)
	return lines
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// ---- type=daemon

type daemonOut struct {
	tag  name.Tag
	opts []daemon.Option
}

func newDaemon(s flagspec.Spec, o Options) (Publisher, error) {
	if err := s.Only("name"); err != nil {
		return nil, err
	}
	n := firstNonEmpty(s.Attrs["name"], o.DefaultName)
	if n == "" {
		return nil, usererr.New("--output %q: type=daemon needs name=REF (or name in graft.toml)", s.Raw)
	}
	t, err := tagOf(n, s.Raw)
	if err != nil {
		return nil, err
	}
	return &daemonOut{tag: t}, nil
}

func (d *daemonOut) Target() Target { return Target{} }

func (d *daemonOut) String() string { return "docker-daemon:" + d.tag.String() }

// Publish loads the image into the Docker Engine named by DOCKER_HOST (API version negotiated,
// so a 20.10 engine works) and fails when the engine reports an error in its load stream.
func (d *daemonOut) Publish(ctx context.Context, a Artifact, progress io.Writer) (string, error) {
	img, plat, err := platformImage(a)
	if err != nil {
		return "", fmt.Errorf("load into Docker: %w", err)
	}
	if plat != "" {
		fmt.Fprintf(progress, "load into Docker: platform %s\n", plat)
	}
	resp, err := daemon.Write(d.tag, img, append([]daemon.Option{daemon.WithContext(ctx)}, d.opts...)...)
	if err != nil {
		return "", fmt.Errorf("load %s into Docker: %w", d.tag, err)
	}
	if msg := loadError(resp); msg != "" {
		return "", fmt.Errorf("load %s into Docker: %s", d.tag, msg)
	}
	id, err := img.ConfigName()
	if err != nil {
		return "", err
	}
	return d.String() + " (image ID " + id.String() + ")", nil
}

// loadError finds an error in the engine's JSON message stream.
func loadError(resp string) string {
	sc := bufio.NewScanner(strings.NewReader(resp))
	for sc.Scan() {
		var m struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Error != "" {
			return m.Error
		}
	}
	return ""
}
