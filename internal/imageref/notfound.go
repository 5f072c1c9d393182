package imageref

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// NotFoundError is Resolve's error when the reference names nothing: a missing OCI layout or
// tar, a tag or digest the layout does not hold, or a registry answering that it has no such
// repository, tag or digest. Any other error is a failure to read what is there (a network
// outage, a refused login, a damaged file).
type NotFoundError struct{ err error }

func (e *NotFoundError) Error() string { return e.err.Error() }
func (e *NotFoundError) Unwrap() error { return e.err }

// IsNotFound reports whether err (or what it wraps) is a NotFoundError.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// errNotInLayout marks a tag or digest a layout does not hold.
var errNotInLayout = errors.New("not in the layout")

// notFound classifies err, which resolving r returned.
func (r Ref) notFound(err error) bool {
	switch r.Kind {
	case Layout:
		_, serr := os.Stat(filepath.Join(r.Dir, "index.json"))
		return errors.Is(serr, fs.ErrNotExist) || errors.Is(err, errNotInLayout)
	case DockerArchive:
		_, serr := os.Stat(r.Path)
		return errors.Is(serr, fs.ErrNotExist)
	}
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
			return true
		}
	}
	return te.StatusCode == http.StatusNotFound
}
