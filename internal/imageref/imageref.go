// Package imageref is the one way graft names an image it reads (inspect, verify, sbom,
// graft.toml's base, BuildKit's base): it parses an IMAGE argument — a registry reference,
// oci-layout://DIR[:tag|@digest], a plain path to a layout folder, an OCI tar or a docker tar,
// or docker-daemon:NAME — and resolves it to the image or index it names, wherever it is.
//
// A name the user did not mean as remote is never sent to a registry: a path that does not
// exist is an error naming it, and a short name without a registry host ("app:v1") is read
// from the Docker Engine when it holds it (graft.toml's base, like a Dockerfile's FROM, takes
// a short name as Docker Hub's: see ShortNamesAreRemote).
package imageref

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/usererr"
)

// Kind says where an image lives.
type Kind int

const (
	Registry      Kind = iota
	Layout             // an OCI layout folder
	OCIArchive         // an OCI layout packed in a tar (type=oci,dest=FILE.tar, buildx's oci exporter)
	DockerArchive      // a `docker save` tar (type=docker)
	Daemon             // an image the Docker Engine holds
)

func (k Kind) String() string {
	return [...]string{"registry", "OCI layout", "OCI tar", "docker tar", "Docker Engine"}[k]
}

// Schemes that say explicitly where an image is.
const (
	LayoutScheme = "oci-layout://"  // BuildKit's and buildx's name for a layout folder
	DaemonScheme = "docker-daemon:" // skopeo's name for the Docker Engine's images
	RemoteScheme = "docker://"      // skopeo's name for a registry reference
)

// Forms lists what IMAGE may be; every error about an IMAGE argument ends with it.
const Forms = "IMAGE is a registry reference (host/repo:tag or host/repo@sha256:...), oci-layout://DIR[:tag|@digest], " +
	"a layout folder, an OCI or docker tar, or docker-daemon:NAME"

// Annotations graft reads and writes on OCI layout entries.
const (
	// RefNameAnnotation names an image inside an OCI layout's index.json by its tag (BuildKit,
	// buildx, skopeo and umoci look a tag up by it).
	RefNameAnnotation = "org.opencontainers.image.ref.name"
	// ContainerdNameAnnotation is the image's full name, which containerd, podman and Docker
	// (loading an OCI tar) name the image by.
	ContainerdNameAnnotation = "io.containerd.image.name"
	// ImageAnnotation marks the small index graft writes as a layout's one entry when the image
	// has attachments: it holds the image and its referrers, and this annotation gives the
	// image's digest (the one graft build printed).
	ImageAnnotation = "org.graft.image.digest"
)

// ErrNotFound is wrapped by every error that says the image is not where IMAGE points (no
// such file, folder, tag, digest, repository or engine image), as opposed to a failure to
// read it. Commands report it for an IMAGE argument as bad input (exit 2).
var ErrNotFound = errors.New("not found")

// Ref is a parsed image reference.
type Ref struct {
	Kind   Kind
	Raw    string         // as the user wrote it
	Name   name.Reference // Registry and Daemon
	Dir    string         // Layout: the folder, absolute
	Path   string         // OCIArchive and DockerArchive: the tar, absolute
	Tag    string         // Layout and OCIArchive: optional tag (ref.name)
	Digest string         // Layout and OCIArchive: optional "sha256:..."
	// short is a Daemon ref parsed from a name without a registry host: Resolve says so when
	// the engine does not hold it.
	short bool
}

// ParseOption changes how Parse reads a name.
type ParseOption func(*parseOptions)

type parseOptions struct{ shortRemote bool }

// ShortNamesAreRemote makes a short name ("ubuntu:22.04") a registry reference on Docker Hub,
// as in a Dockerfile's FROM: graft.toml's base is meant as remote.
func ShortNamesAreRemote() ParseOption { return func(o *parseOptions) { o.shortRemote = true } }

// Parse reads s. Relative paths are taken from baseDir. It looks at the filesystem: a plain
// path is a layout folder or a tar only if it exists (which kind is read from its content); a
// path that does not exist is an error wrapping ErrNotFound, never a registry name.
func Parse(s, baseDir string, opts ...ParseOption) (Ref, error) {
	var o parseOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case s == "":
		return Ref{}, bad(`""`, "empty image reference")
	case strings.HasPrefix(s, LayoutScheme):
		return parseLayout(s, baseDir)
	case strings.HasPrefix(s, DaemonScheme):
		return parseName(s, strings.TrimPrefix(s, DaemonScheme), Daemon)
	case strings.HasPrefix(s, RemoteScheme):
		return parseName(s, strings.TrimPrefix(s, RemoteScheme), Registry)
	}
	if r, ok, err := parseLocal(s, baseDir); ok || err != nil {
		return r, err
	}
	if looksLikePath(s) {
		return Ref{}, usererr.Wrap(notFound(s, "no such file or folder"))
	}
	r, err := parseName(s, s, Registry)
	if err != nil || o.shortRemote || hasHost(s) {
		return r, err
	}
	r.Kind, r.short = Daemon, true
	return r, nil
}

// CheckSyntax checks s without looking at the filesystem (graft.toml is checked before its
// base exists).
func CheckSyntax(s string) error {
	switch {
	case s == "":
		return bad(`""`, "empty image reference")
	case strings.HasPrefix(s, LayoutScheme):
		_, err := parseLayout(s, "/")
		return err
	case strings.HasPrefix(s, DaemonScheme):
		_, err := parseName(s, strings.TrimPrefix(s, DaemonScheme), Daemon)
		return err
	case strings.HasPrefix(s, RemoteScheme):
		_, err := parseName(s, strings.TrimPrefix(s, RemoteScheme), Registry)
		return err
	case looksLikePath(s):
		return nil
	}
	_, err := parseName(s, s, Registry)
	return err
}

func parseName(raw, s string, kind Kind) (Ref, error) {
	ref, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		// Strict validation refuses implicit docker.io; accept it like docker does.
		ref, err = name.ParseReference(s)
		if err != nil {
			return Ref{}, bad(raw, "%v", err)
		}
	}
	return Ref{Kind: kind, Raw: raw, Name: ref}, nil
}

// hasHost reports whether a name starts with a registry host (a dot or port in its first
// component, or localhost), as Docker decides.
func hasHost(s string) bool {
	first, _, ok := strings.Cut(s, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// looksLikePath is what can only be a path: absolute, ./ or ../, ~, or a .tar file name.
func looksLikePath(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") ||
		strings.HasPrefix(s, "~") || s == "." || s == ".." || strings.HasSuffix(s, ".tar")
}

func parseLayout(s, baseDir string) (Ref, error) {
	rest := strings.TrimPrefix(s, LayoutScheme)
	r := Ref{Kind: Layout, Raw: s}
	rest, r.Tag, r.Digest = splitSuffix(rest)
	if r.Digest != "" {
		if _, err := v1.NewHash(r.Digest); err != nil {
			return Ref{}, bad(s, "bad digest %q: write @sha256:<64 hex digits>", r.Digest)
		}
	}
	if rest == "" {
		return Ref{}, bad(s, "no folder after %s", LayoutScheme)
	}
	r.Dir = absUnder(baseDir, rest)
	return r, nil
}

// splitSuffix cuts "@digest" or ":tag" (a colon after the last slash) off a path.
func splitSuffix(s string) (rest, tag, digest string) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return s[:i], "", s[i+1:]
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		return s[:i], s[i+1:], ""
	}
	return s, "", ""
}

// parseLocal reads s as a path that exists (optionally with :tag or @digest after it): a
// folder is a layout, a file a tar whose content says which kind. ok is false when neither s
// nor its path part exists.
func parseLocal(s, baseDir string) (Ref, bool, error) {
	path, tag, digest := s, "", ""
	fi, err := os.Stat(absUnder(baseDir, s))
	if err != nil {
		if path, tag, digest = splitSuffix(s); path == s || path == "" {
			return Ref{}, false, nil
		}
		if fi, err = os.Stat(absUnder(baseDir, path)); err != nil {
			return Ref{}, false, nil
		}
	}
	if digest != "" {
		if _, err := v1.NewHash(digest); err != nil {
			return Ref{}, true, bad(s, "bad digest %q: write @sha256:<64 hex digits>", digest)
		}
	}
	abs := absUnder(baseDir, path)
	r := Ref{Raw: s, Tag: tag, Digest: digest}
	if fi.IsDir() {
		r.Kind, r.Dir = Layout, abs
		return r, true, nil
	}
	kind, err := tarKind(abs)
	if err != nil {
		return Ref{}, true, bad(s, "%v", err)
	}
	r.Kind, r.Path = kind, abs
	if kind == DockerArchive && digest != "" {
		return Ref{}, true, bad(s, "a docker tar is named by tag, not digest")
	}
	return r, true, nil
}

func absUnder(baseDir, p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}

// notFound is the one wording of "IMAGE names nothing". Whether that is bad input is the
// caller's to say: an IMAGE argument that names nothing is (exit 2), a locked base that has
// vanished since is not.
func notFound(what, why string) error {
	return &missingError{fmt.Sprintf("image %s: %s; %s", what, why, Forms)}
}

// bad is the one wording of "IMAGE is not written right": bad input (exit 2).
func bad(what, format string, args ...any) error {
	return usererr.New("image %s: %s; %s", what, fmt.Sprintf(format, args...), Forms)
}

// missing is an error saying the image is not there (errors.Is(err, ErrNotFound)).
func missing(format string, args ...any) error { return &missingError{fmt.Sprintf(format, args...)} }

type missingError struct{ msg string }

func (e *missingError) Error() string        { return e.msg }
func (e *missingError) Is(target error) bool { return target == ErrNotFound }

// String gives a reference that Parse reads back to the same image.
func (r Ref) String() string {
	switch r.Kind {
	case Layout:
		s := LayoutScheme + r.Dir
		if r.Digest != "" {
			return s + "@" + r.Digest
		}
		if r.Tag != "" {
			return s + ":" + r.Tag
		}
		return s
	case OCIArchive, DockerArchive:
		s := r.Path
		if r.Digest != "" {
			return s + "@" + r.Digest
		}
		if r.Tag != "" {
			return s + ":" + r.Tag
		}
		return s
	case Daemon:
		return DaemonScheme + r.Name.String()
	default:
		return r.Name.String()
	}
}

// Pinned is the same image place, addressed by digest (a docker tar and the Docker Engine
// have no manifest digest to pin by: they are returned as they are).
func (r Ref) Pinned(digest string) Ref {
	p := r
	switch r.Kind {
	case Registry:
		d, err := name.NewDigest(r.Name.Context().Name() + "@" + digest)
		if err == nil {
			p.Name = d
		}
	case Layout, OCIArchive:
		p.Digest, p.Tag = digest, ""
	}
	p.Raw = p.String()
	return p
}
