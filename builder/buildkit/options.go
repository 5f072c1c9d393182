package buildkit

import (
	"io"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/graft-build/graft/internal/usererr"
)

type options struct {
	cacheImports []client.CacheOptionsEntry
	cacheExports []client.CacheOptionsEntry
	progressMode progressui.DisplayMode // "" when not set: plain to the request's writer, if any
	progressOut  io.Writer
	tls          *tlsFiles
	errs         []error // bad option values, reported by New
}

type tlsFiles struct{ ca, cert, key string }

// Option configures an Engine.
type Option func(*options)

// WithCacheImports imports BuildKit's cache of build steps, in buildx syntax:
// "type=local,src=DIR" or "type=registry,ref=REF" (a bare REF means type=registry).
func WithCacheImports(specs ...string) Option {
	return func(o *options) {
		for _, s := range specs {
			e, err := parseCache(s, "--cache-from", "src")
			if err != nil {
				o.errs = append(o.errs, err)
				continue
			}
			o.cacheImports = append(o.cacheImports, e)
		}
	}
}

// WithCacheExports exports BuildKit's cache of build steps, in buildx syntax:
// "type=local,dest=DIR" or "type=registry,ref=REF[,mode=max]".
func WithCacheExports(specs ...string) Option {
	return func(o *options) {
		for _, s := range specs {
			e, err := parseCache(s, "--cache-to", "dest")
			if err != nil {
				o.errs = append(o.errs, err)
				continue
			}
			o.cacheExports = append(o.cacheExports, e)
		}
	}
}

// WithProgress shows BuildKit's progress display, as docker build does: auto (tty on a
// terminal, else plain), plain, tty or quiet. Without it, plain lines go to the request's
// Progress writer when it has one.
func WithProgress(mode string, w io.Writer) Option {
	return func(o *options) {
		switch progressui.DisplayMode(mode) {
		case progressui.AutoMode, progressui.PlainMode, progressui.TtyMode, progressui.QuietMode:
			o.progressMode, o.progressOut = progressui.DisplayMode(mode), w
		default:
			o.errs = append(o.errs, usererr.New("--progress %q: use auto, plain, tty or quiet", mode))
		}
	}
}

// WithTLS authenticates to a tcp:// daemon with mutual TLS: the CA that signed the daemon's
// certificate and graft's client certificate and key (PEM files), as buildctl's --tlscacert,
// --tlscert and --tlskey.
func WithTLS(caFile, certFile, keyFile string) Option {
	return func(o *options) { o.tls = &tlsFiles{ca: caFile, cert: certFile, key: keyFile} }
}
