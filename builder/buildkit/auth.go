package buildkit

import (
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"

	"github.com/graft-build/graft/internal/usererr"
)

// registryAuth lends the daemon graft's registry credentials ($DOCKER_CONFIG/config.json, else
// ~/.docker/config.json, and its credential helpers, as docker and buildx do) through the
// session: a remote buildkitd needs them to pull a private base and to read or write a registry
// cache. Only what the daemon asks for, per registry, leaves graft's process. The folder is
// looked up on every call (docker/cli's config.Dir remembers the first answer for good).
func registryAuth() (session.Attachable, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, usererr.New("registry credentials: no home folder (%v): set DOCKER_CONFIG", err)
		}
		dir = filepath.Join(home, ".docker")
	}
	cf, err := config.Load(dir)
	if err != nil {
		return nil, usererr.New("registry credentials: %v", err)
	}
	if !cf.ContainsAuth() {
		cf.CredentialsStore = credentials.DetectDefaultStore(cf.CredentialsStore)
	}
	return authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(cf),
	}), nil
}
