package gitremote

import (
	"net/http"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// MaxConnsPerHost is how many idle connections to one git host are kept for reuse. go-git's
// default client uses net/http's default transport, which keeps 2: with 32 plugins of one
// forge resolved at once, 30 of every wave's connections were closed after each request and
// the next request paid TCP (and TLS) set-up again.
const MaxConnsPerHost = 64

// go-git picks its HTTP transport from a process-wide table; graft installs one client there,
// so that `graft lock` and `graft build` (which fetches through go-git's Remote) share one pool
// of connections per host.
func init() {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * MaxConnsPerHost
	t.MaxIdleConnsPerHost = MaxConnsPerHost
	t.IdleConnTimeout = 90 * time.Second
	c := githttp.NewClient(&http.Client{Transport: t})
	client.InstallProtocol("http", c)
	client.InstallProtocol("https", c)
}
