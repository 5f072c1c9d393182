// Package artifacttest gives tests of url, maven and oci plugin sources real servers on
// 127.0.0.1: an HTTP file server (net/http) with a Maven repository's layout (files, .sha1 and
// .sha256 beside them, maven-metadata.xml listing the versions), optionally behind basic
// authentication; archives made in memory; and OCI artifacts shaped as `oras push` makes them
// (an empty config, one layer per file titled org.opencontainers.image.title), pushed to a real
// registry.
package artifacttest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha1" //nolint:gosec // Maven repositories publish sha1 checksums
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// Server serves files over HTTP.
type Server struct {
	t      testing.TB
	URL    string // http://127.0.0.1:PORT
	mu     sync.Mutex
	files  map[string][]byte
	auth   [2]string
	lies   map[string]int64 // path -> Content-Length to announce instead of the real one
	hits   map[string]int
	server *httptest.Server
}

// NewServer starts a file server; with user set, every request needs that user and password.
func NewServer(t testing.TB, user, password string) *Server {
	s := &Server{t: t, files: map[string][]byte{}, auth: [2]string{user, password}, lies: map[string]int64{}, hits: map[string]int{}}
	s.server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.server.Close)
	s.URL = s.server.URL
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.auth[0] != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.auth[0] || p != s.auth[1] {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	s.mu.Lock()
	data, ok := s.files[r.URL.Path]
	lie, lies := s.lies[r.URL.Path]
	s.hits[r.URL.Path]++
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if lies {
		// Announce one length, send another: hijack so net/http does not correct it.
		hj, _ := w.(http.Hijacker)
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", lie)
		buf.Write(data)
		buf.Flush()
		return
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.Write(data)
}

// Put serves data at path (e.g. "/files/x-1.0.zip").
func (s *Server) Put(path string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
}

// Delete stops serving path.
func (s *Server) Delete(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, path)
}

// Lie makes the server announce length bytes for path whatever it sends.
func (s *Server) Lie(path string, length int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lies[path] = length
}

// Hits is how many requests path got.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Maven is a repository with Maven's layout under a server's /maven2.
type Maven struct {
	S    *Server
	Root string // the repository's URL
}

// NewMaven makes s serve a Maven repository.
func NewMaven(s *Server) *Maven { return &Maven{S: s, Root: s.URL + "/maven2"} }

// Publish puts an artifact (group:artifact:version, classifier and extension optional) with
// the checksum files named in sums ("sha1", "sha256") and adds the version to its
// maven-metadata.xml.
func (m *Maven) Publish(group, artifact, version, classifier, ext string, data []byte, sums ...string) string {
	if ext == "" {
		ext = "jar"
	}
	dir := "/maven2/" + strings.ReplaceAll(group, ".", "/") + "/" + artifact
	file := artifact + "-" + version
	if classifier != "" {
		file += "-" + classifier
	}
	file += "." + ext
	p := dir + "/" + version + "/" + file
	m.S.Put(p, data)
	for _, sum := range sums {
		var h []byte
		switch sum {
		case "sha1":
			x := sha1.Sum(data)
			h = x[:]
		case "sha256":
			x := sha256.Sum256(data)
			h = x[:]
		}
		m.S.Put(p+"."+sum, []byte(hex.EncodeToString(h)+"  "+file+"\n"))
	}
	m.S.mu.Lock()
	meta := string(m.S.files[dir+"/maven-metadata.xml"])
	m.S.mu.Unlock()
	versions := parseVersions(meta)
	if !contains(versions, version) {
		versions = append(versions, version)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>%s</groupId>\n  <artifactId>%s</artifactId>\n  <versioning>\n    <versions>\n", group, artifact)
	for _, v := range versions {
		fmt.Fprintf(&b, "      <version>%s</version>\n", v)
	}
	b.WriteString("    </versions>\n  </versioning>\n</metadata>\n")
	m.S.Put(dir+"/maven-metadata.xml", []byte(b.String()))
	return m.S.URL + p
}

func parseVersions(meta string) []string {
	var out []string
	for _, part := range strings.Split(meta, "<version>")[1:] {
		v, _, _ := strings.Cut(part, "</version>")
		out = append(out, v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// File is one entry of an archive made by Zip or TarGz: content, or a symlink target with
// Link; Exec makes a file executable.
type File struct {
	Body string
	Link string
	Exec bool
}

func sortedNames(files map[string]File) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Zip makes a zip of files (name -> File).
func Zip(t testing.TB, files map[string]File) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range sortedNames(files) {
		f := files[n]
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		switch {
		case f.Link != "":
			h.SetMode(fs.ModeSymlink | 0o777)
		case f.Exec:
			h.SetMode(0o755)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		body := f.Body
		if f.Link != "" {
			body = f.Link
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TarGz makes a gzip-compressed tar of files (name -> File).
func TarGz(t testing.TB, files map[string]File) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range sortedNames(files) {
		f := files[n]
		h := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Body))}
		if f.Exec {
			h.Mode = 0o755
		}
		if f.Link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.Body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// Artifact media types `oras push` uses.
const (
	EmptyConfig = "application/vnd.oci.empty.v1+json"
	TitleKey    = "org.opencontainers.image.title"
)

// PushArtifact pushes an artifact of files (title -> content), each a layer of media type
// application/octet-stream titled with its name, as `oras push REF FILE...` does, and returns
// its digest.
func PushArtifact(t testing.TB, ref string, files map[string]string) v1.Hash {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, EmptyConfig)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer([]byte(files[n]), "application/octet-stream"),
			Annotations: map[string]string{TitleKey: n}})
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// RawEntry is a tar header written as it is, with no body (a bomb's header claims what its
// body never holds).
type RawEntry struct {
	Name string
	Type byte
	Size int64
	Link string
}

// RawTarGz is a gzip-compressed tar of raw headers: a regular entry gets Size bytes of body only
// when Size is at most 1 MiB (zeros); a larger claim ends the archive after its header.
func RawTarGz(t testing.TB, entries ...RawEntry) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: 0o644, Size: e.Size, Linkname: e.Link}
		if e.Type != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 && h.Size <= 1<<20 {
			tw.Write(make([]byte, h.Size))
		}
	}
	tw.Flush()
	zw.Close()
	return buf.Bytes()
}
