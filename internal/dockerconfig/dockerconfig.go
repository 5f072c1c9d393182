// Package dockerconfig holds graft login and logout's side of the Docker config: where
// config.json is ($DOCKER_CONFIG, else ~/.docker), reading it only when graft may write it back
// (a regular file, never a link), writing it private (mode 0600, atomically, keeping its owner),
// the credential store docker would use for a registry (its helper, credsStore, else the file),
// the key docker files a registry's credentials under, and asking a registry whether it accepts
// a user and password, as docker login does.
package dockerconfig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/internal/atomicfile"
	"github.com/graft-build/graft/internal/usererr"
)

// DockerHubKey is where docker login keeps Docker Hub's credentials (and where ggcr and
// BuildKit look for them).
const DockerHubKey = "https://index.docker.io/v1/"

// RegistryKey is the registry's name and the config key docker uses for it; arg is host[:port],
// optionally with http:// or https:// and a final slash.
func RegistryKey(arg string) (name.Registry, string, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(arg, "https://"), "http://"), "/")
	reg, err := name.NewRegistry(host)
	if err != nil || strings.Contains(host, "/") {
		return name.Registry{}, "", usererr.New("registry %q: write host[:port], e.g. registry.example.org or docker.io", arg)
	}
	key := reg.RegistryStr()
	if key == name.DefaultRegistry {
		key = DockerHubKey
	}
	return reg, key, nil
}

// Config is the Docker config as docker/cli's credential stores see it, with each of their
// saves made by Save instead of ConfigFile.Save.
type Config struct{ *configfile.ConfigFile }

// Load reads the Docker config, after checking that graft may write it back: a config.json
// that is a symlink or not a regular file is refused (bad input), before anything is stored or
// erased.
func Load() (*Config, error) {
	file := filepath.Join(Dir(), config.ConfigFileName)
	switch fi, err := os.Lstat(file); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("docker config: %w", err)
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(file)
		return nil, usererr.New("%s is a symlink (to %s); graft writes credentials only into a regular file, never through a link, whose target may be readable by others or kept in a repository: replace the link with a copy of its target, or set DOCKER_CONFIG to a folder of its own", file, target)
	case !fi.Mode().IsRegular():
		return nil, usererr.New("%s is not a regular file; move it away, or set DOCKER_CONFIG to a folder of its own", file)
	}
	cf, err := config.Load(filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	return &Config{cf}, nil
}

// Save writes the config as docker/cli's ConfigFile.Save would, but always mode 0600 and never
// through a link: Save copies the old file's mode (a 0644 config.json stays world-readable with
// the credentials in it) and writes into a symlink's target. The new file is a temporary file
// in the same folder renamed over config.json (atomicfile); it keeps the old file's owner when
// root writes another user's config (sudo graft login).
func (c *Config) Save() error {
	var buf bytes.Buffer
	if err := c.SaveToWriter(&buf); err != nil {
		return fmt.Errorf("write %s: %w", c.Filename, err)
	}
	if err := os.MkdirAll(filepath.Dir(c.Filename), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", c.Filename, err)
	}
	var old syscall.Stat_t
	hadOwner := syscall.Lstat(c.Filename, &old) == nil && old.Mode&syscall.S_IFMT == syscall.S_IFREG
	if err := atomicfile.Write(c.Filename, buf.Bytes(), 0o600); err != nil {
		return err
	}
	if hadOwner && (int(old.Uid) != os.Geteuid() || int(old.Gid) != os.Getegid()) {
		if err := os.Lchown(c.Filename, int(old.Uid), int(old.Gid)); err != nil {
			return fmt.Errorf("write %s: keep its owner: %w", c.Filename, err)
		}
	}
	return nil
}

// Store keeps user and password for the registry key in its credential store, then saves the
// config (even when the store left the file alone: an existing world-readable config.json
// becomes private).
func (c *Config) Store(key, user, pw string) error {
	if err := c.credentialStore(key).Store(types.AuthConfig{Username: user, Password: pw, ServerAddress: key}); err != nil {
		return fmt.Errorf("store the credentials for %s in %s: %w", key, c.Filename, err)
	}
	return c.Save()
}

// Erase removes the registry key's credentials, as docker logout does; false when the config
// holds none for it and names no credential helper that might.
func (c *Config) Erase(key string) (bool, error) {
	if _, ok := c.AuthConfigs[key]; !ok && c.CredentialsStore == "" && c.CredentialHelpers[key] == "" {
		return false, nil
	}
	if err := c.credentialStore(key).Erase(key); err != nil {
		return false, fmt.Errorf("remove the credentials for %s: %w", key, err)
	}
	return true, c.Save()
}

// StoreName says where the registry key's credentials are kept: the credential helper's
// program, else config.json's path.
func (c *Config) StoreName(key string) string {
	if helper := c.helper(key); helper != "" {
		return "docker-credential-" + helper
	}
	return c.Filename
}

// helper is the registry's credential helper, else credsStore ("" for the file itself).
func (c *Config) helper(key string) string {
	if helper := c.CredentialHelpers[key]; helper != "" {
		return helper
	}
	return c.CredentialsStore
}

// credentialStore is ConfigFile.GetCredentialsStore (the registry's credential helper, else
// credsStore, else the file itself) over c, whose Save is the private one.
func (c *Config) credentialStore(key string) credentials.Store {
	if helper := c.helper(key); helper != "" {
		return credentials.NewNativeStore(c, helper)
	}
	return credentials.NewFileStore(c)
}

// Dir is where docker keeps config.json: $DOCKER_CONFIG, else ~/.docker. It is read at each
// call: docker/cli's config.Dir() remembers the first answer for the whole process, so a
// second site (or test) with another DOCKER_CONFIG would write into the first one's folder.
func Dir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".docker")
	}
	return config.Dir()
}
