package gitremote

import (
	"strings"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// HTTPCredentials are the user and password git over https would send to u's host (see
// AuthFrom: GRAFT_GIT_TOKEN_<HOST>, GRAFT_GIT_TOKEN, then $NETRC or ~/.netrc), for plain HTTP
// downloads (url and maven plugin sources) to authenticate exactly as git plugins do. Both are
// empty for an anonymous host or a URL carrying its own user information.
func HTTPCredentials(u string, env Env) (user, password string, err error) {
	auth, err := httpAuth(u, env)
	if err != nil {
		return "", "", err
	}
	if b, ok := auth.(*githttp.BasicAuth); ok && b != nil {
		return b.Username, b.Password, nil
	}
	return "", "", nil
}

// Scrub removes u's password and any "scheme://user:password@" from text, for messages about
// u that come from libraries.
func Scrub(text, u string) string {
	for _, s := range secretsOf(u, nil) {
		text = strings.ReplaceAll(text, s, "***")
	}
	return userinfoRE.ReplaceAllString(text, "://")
}
