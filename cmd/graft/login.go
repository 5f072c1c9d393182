package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/spf13/cobra"

	"github.com/graft-build/graft/internal/atomicfile"
	"github.com/graft-build/graft/internal/usererr"
)

// dockerHubKey is where docker login keeps Docker Hub's credentials (and where ggcr and
// BuildKit look for them).
const dockerHubKey = "https://index.docker.io/v1/"

type loginOpts struct {
	user          string
	password      string
	passwordStdin bool
}

func newLoginCmd(g *globalOpts) *cobra.Command {
	o := &loginOpts{}
	cmd := &cobra.Command{
		Use:   "login REGISTRY -u USER --password-stdin",
		Short: "Check credentials with a registry and store them as docker login does",
		Long: `login asks REGISTRY (host[:port]; docker.io for Docker Hub) to accept USER and the
password (or token), then stores them in the Docker config ($DOCKER_CONFIG/config.json, else
~/.docker/config.json), in its credential helper when it names one (credsStore, credHelpers),
exactly where docker login puts them: graft build, graft lock, crane, buildx and docker all
read them from there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd.Context(), g, o, args[0], cmd.InOrStdin())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "username", "u", "", "user name")
	f.StringVarP(&o.password, "password", "p", "", "password or token (visible in the process list: prefer --password-stdin)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password or token from standard input")
	return cmd
}

func newLogoutCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "logout REGISTRY",
		Short: "Remove a registry's credentials from the Docker config, as docker logout does",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogout(g, args[0])
		},
	}
}

// registryKey is the registry's name and the config key docker uses for it.
func registryKey(arg string) (name.Registry, string, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(arg, "https://"), "http://"), "/")
	reg, err := name.NewRegistry(host)
	if err != nil || strings.Contains(host, "/") {
		return name.Registry{}, "", usererr.New("registry %q: write host[:port], e.g. registry.example.org or docker.io", arg)
	}
	key := reg.RegistryStr()
	if key == name.DefaultRegistry {
		key = dockerHubKey
	}
	return reg, key, nil
}

func runLogin(ctx context.Context, g *globalOpts, o *loginOpts, arg string, stdin io.Reader) error {
	reg, key, err := registryKey(arg)
	if err != nil {
		return err
	}
	pw := o.password
	switch {
	case o.passwordStdin && pw != "":
		return usererr.New("give the password with -p or --password-stdin, not both")
	case o.passwordStdin:
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	case pw != "":
		fmt.Fprintln(g.stderr, "graft: warning: -p leaves the password in the process list and shell history; use --password-stdin")
	}
	if o.user == "" || pw == "" {
		return usererr.New("login %s: give -u USER and the password or token on standard input with --password-stdin", arg)
	}
	// Before the registry is asked: a config graft will not write is found at once.
	cf, err := loadDockerConfig()
	if err != nil {
		return err
	}
	if err := checkLogin(ctx, reg, o.user, pw); err != nil {
		return err
	}
	if err := credentialStore(cf, key).Store(types.AuthConfig{Username: o.user, Password: pw, ServerAddress: key}); err != nil {
		return fmt.Errorf("store the credentials for %s in %s: %w", key, cf.Filename, err)
	}
	// Again, even when the store left the file alone (same credentials): an existing
	// world-readable config.json becomes private.
	if err := saveDockerConfig(cf); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Login Succeeded (%s, stored in %s)\n", reg.RegistryStr(), storeName(cf.CredentialsStore, cf.CredentialHelpers[key], cf.Filename))
	return nil
}

func storeName(store, helper, file string) string {
	if helper != "" {
		return "docker-credential-" + helper
	}
	if store != "" {
		return "docker-credential-" + store
	}
	return file
}

// checkLogin asks the registry, as docker login does: a token exchange (bearer) or the /v2/
// endpoint itself (basic) with the credentials. A refusal is bad input; the password is in no
// message.
func checkLogin(ctx context.Context, reg name.Registry, user, pw string) error {
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: pw})
	rt, err := transport.NewWithContext(ctx, reg, auth, http.DefaultTransport, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(reg, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(reg, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return usererr.New("login %s: the registry refused user %q (%s); check the user and password or token", reg.RegistryStr(), user, resp.Status)
	case resp.StatusCode >= 300:
		return fmt.Errorf("login %s: the registry answered %s", reg.RegistryStr(), resp.Status)
	}
	return nil
}

func loginError(reg name.Registry, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return usererr.New("login %s: the registry refused the credentials (%d); check the user and password or token", reg.RegistryStr(), te.StatusCode)
	}
	return fmt.Errorf("login %s: %w", reg.RegistryStr(), err)
}

func runLogout(g *globalOpts, arg string) error {
	_, key, err := registryKey(arg)
	if err != nil {
		return err
	}
	cf, err := loadDockerConfig()
	if err != nil {
		return err
	}
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
		fmt.Fprintf(g.stdout, "Not logged in to %s\n", key)
		return nil
	}
	if err := credentialStore(cf, key).Erase(key); err != nil {
		return fmt.Errorf("remove the credentials for %s: %w", key, err)
	}
	if err := saveDockerConfig(cf); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Removing login credentials for %s\n", key)
	return nil
}

// loadDockerConfig reads the Docker config, after checking that graft may write it back: a
// config.json that is a symlink or not a regular file is refused (bad input), before anything
// is stored or erased.
func loadDockerConfig() (*configfile.ConfigFile, error) {
	file := filepath.Join(dockerConfigDir(), config.ConfigFileName)
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
	return cf, nil
}

// saveDockerConfig writes cf as docker/cli's ConfigFile.Save would, but always mode 0600 and
// never through a link: Save copies the old file's mode (a 0644 config.json stays
// world-readable with the credentials in it) and writes into a symlink's target. The new file
// is a temporary file in the same folder renamed over config.json (atomicfile); it keeps the
// old file's owner when root writes another user's config (sudo graft login).
func saveDockerConfig(cf *configfile.ConfigFile) error {
	var buf bytes.Buffer
	if err := cf.SaveToWriter(&buf); err != nil {
		return fmt.Errorf("write %s: %w", cf.Filename, err)
	}
	if err := os.MkdirAll(filepath.Dir(cf.Filename), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", cf.Filename, err)
	}
	var old syscall.Stat_t
	hadOwner := syscall.Lstat(cf.Filename, &old) == nil && old.Mode&syscall.S_IFMT == syscall.S_IFREG
	if err := atomicfile.Write(cf.Filename, buf.Bytes(), 0o600); err != nil {
		return err
	}
	if hadOwner && (int(old.Uid) != os.Geteuid() || int(old.Gid) != os.Getegid()) {
		if err := os.Lchown(cf.Filename, int(old.Uid), int(old.Gid)); err != nil {
			return fmt.Errorf("write %s: keep its owner: %w", cf.Filename, err)
		}
	}
	return nil
}

// privateConfig is the Docker config as docker/cli's credential stores see it, with each of
// their saves made by saveDockerConfig instead of ConfigFile.Save.
type privateConfig struct{ *configfile.ConfigFile }

func (c privateConfig) Save() error { return saveDockerConfig(c.ConfigFile) }

// credentialStore is ConfigFile.GetCredentialsStore (the registry's credential helper, else
// credsStore, else the file itself) over privateConfig.
func credentialStore(cf *configfile.ConfigFile, key string) credentials.Store {
	helper := cf.CredentialHelpers[key]
	if helper == "" {
		helper = cf.CredentialsStore
	}
	if helper != "" {
		return credentials.NewNativeStore(privateConfig{cf}, helper)
	}
	return credentials.NewFileStore(privateConfig{cf})
}

// dockerConfigDir is where docker keeps config.json: $DOCKER_CONFIG, else ~/.docker. It is read
// at each call: docker/cli's config.Dir() remembers the first answer for the whole process, so
// a second site (or test) with another DOCKER_CONFIG would write into the first one's folder.
func dockerConfigDir() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".docker")
	}
	return config.Dir()
}
