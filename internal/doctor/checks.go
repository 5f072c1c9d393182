package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	dockerclient "github.com/moby/moby/client"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// probeTimeout bounds each question asked of a daemon: doctor answers in seconds.
const probeTimeout = 3 * time.Second

// Launcher finds the graft-launcher binary for a platform without building one; version is
// what the image would record.
type Launcher func(p v1.Platform) (version string, err error)

// Launchers reports, for each platform graft may build (the site's, else linux/amd64 and
// linux/arm64), where its launcher comes from: a platform with none is built with Go at the
// first build, and missing only where there is no Go either.
func Launchers(find Launcher, platforms []string, lookPath func(string) (string, error)) Check {
	return func(_ context.Context, r *Report) {
		if len(platforms) == 0 {
			platforms = []string{"linux/amd64", "linux/arm64"}
		}
		for _, pl := range platforms {
			p, err := v1.ParsePlatform(pl)
			if err != nil {
				continue // graft.toml's own check names it
			}
			topic := "launcher " + pl
			if v, err := find(*p); err == nil {
				r.add(topic, OK, "graft-launcher "+v, "")
				continue
			}
			if goBin, err := lookPath("go"); err == nil {
				r.add(topic, Info, "not embedded: the first build makes it with "+goBin+" (up to a minute, then cached)", "")
				continue
			}
			r.add(topic, Missing, "no graft-launcher for "+pl+" and no Go to build one",
				"use a release archive or the graft image (launchers embedded), install Go, or set GRAFT_LAUNCHER_DIR")
		}
	}
}

// Git reports the git program: plugins from file://, local paths and git:// need it.
func Git(p *lockfile.Project, lookPath func(string) (string, error)) Check {
	return func(ctx context.Context, r *Report) {
		path, err := lookPath("git")
		if err == nil {
			out, _ := exec.CommandContext(ctx, path, "version").Output()
			r.add("git", OK, strings.TrimSpace(string(out)), "")
			return
		}
		if needs := gitProgramPlugins(p); len(needs) > 0 {
			r.add("git", Missing, "no git program; plugins "+strings.Join(needs, ", ")+" use file://, a local path or git://",
				"install git (apt-get install git)")
			return
		}
		r.add("git", Info, "no git program (only file://, local-path and git:// plugins need it)", "")
	}
}

func gitProgramPlugins(p *lockfile.Project) []string {
	var out []string
	if p == nil {
		return nil
	}
	for _, pl := range p.Plugins {
		if pl.Source.Git == "" {
			continue
		}
		if k := gitremote.KindOf(p.SourceURL(pl)); k != gitremote.HTTP && k != gitremote.SSH {
			out = append(out, pl.Name)
		}
	}
	return out
}

// Docker reports the Docker Engine graft would use (DOCKER_HOST or the default socket):
// `--output type=daemon` and `--buildkit auto` need one; lock and build do not.
func Docker() Check {
	return func(ctx context.Context, r *Report) {
		v, host, err := dockerVersion(ctx)
		if err != nil {
			r.add("docker", Warn, "no Docker Engine answers ("+err.Error()+"): --output type=daemon and --buildkit auto are unavailable; lock and build need none",
				"start Docker or set DOCKER_HOST, if you need those")
			return
		}
		r.add("docker", OK, "Docker Engine "+v+" at "+host, "")
	}
}

func dockerVersion(ctx context.Context) (version, host string, err error) {
	dc, err := dockerclient.New(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return "", "", err
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := dc.ServerVersion(ctx, dockerclient.ServerVersionOptions{})
	if err != nil {
		return "", "", errors.New(oneLine(err.Error()))
	}
	return fmt.Sprintf("%s (API %s)", v.Version, v.APIVersion), dc.DaemonHost(), nil
}

// BuildKitProbe connects to a BuildKit address and returns the daemon's version.
type BuildKitProbe func(ctx context.Context, addr string) (version string, err error)

// BuildKit reports how plugins with [build] steps would run: the address given (asked for its
// version), else --buildkit auto through Docker. Missing only when the site has such plugins.
func BuildKit(p *lockfile.Project, addr string, probe BuildKitProbe) Check {
	return func(ctx context.Context, r *Report) {
		steps := stepPlugins(p)
		need := Warn
		if len(steps) > 0 {
			need = Missing
		}
		switch {
		case addr != "" && addr != "auto":
			ctx, cancel := context.WithTimeout(ctx, 2*probeTimeout)
			defer cancel()
			v, err := probe(ctx, addr)
			if err != nil {
				r.add("buildkit", need, oneLine(err.Error()), "start buildkitd there, or unset BUILDKIT_HOST to use --buildkit auto")
				return
			}
			r.add("buildkit", OK, "BuildKit "+v+" at "+addr, "")
		case len(steps) == 0:
			r.add("buildkit", Info, "not needed: no plugin has [build] run steps", "")
		default:
			if _, _, err := dockerVersion(ctx); err != nil {
				r.add("buildkit", Missing, "plugins "+strings.Join(steps, ", ")+" have build steps; no BUILDKIT_HOST and no Docker Engine for --buildkit auto",
					"set BUILDKIT_HOST or pass --buildkit ADDR, or start Docker")
				return
			}
			r.add("buildkit", OK, "plugins "+strings.Join(steps, ", ")+" have build steps: --buildkit auto will start buildkitd in Docker", "")
		}
	}
}

func stepPlugins(p *lockfile.Project) []string {
	var out []string
	if p == nil {
		return nil
	}
	for _, pl := range p.Plugins {
		if len(pl.Build.Run) > 0 {
			out = append(out, pl.Name)
		}
	}
	return out
}

// Registries reports credentials for the base's registry and for graft.toml's name (where
// --push goes), found as graft finds them (the Docker config and its credential helpers).
func Registries(p *lockfile.Project, kc authn.Keychain) Check {
	return func(_ context.Context, r *Report) {
		if p == nil {
			return
		}
		if ref, err := p.BaseRef(); err == nil && ref.Kind == imageref.Registry {
			reg := ref.Name.Context().Registry
			if anonymous(kc, reg) {
				r.add("registry "+shown(reg), Info, "base "+p.Site.Base+": no credentials stored (fine for a public image)",
					"graft login "+shown(reg)+" if the base is private")
			} else {
				r.add("registry "+shown(reg), OK, "base "+p.Site.Base+": credentials from the Docker config", "")
			}
		}
		if p.Site.Name == "" {
			return
		}
		ref, err := name.ParseReference(p.Site.Name)
		if err != nil {
			return
		}
		reg := ref.Context().Registry
		if anonymous(kc, reg) {
			r.add("registry "+shown(reg), Warn, "name "+p.Site.Name+": no credentials stored; --push will be refused by a private registry",
				"graft login "+shown(reg)+" -u USER --password-stdin")
			return
		}
		r.add("registry "+shown(reg), OK, "name "+p.Site.Name+": credentials from the Docker config", "")
	}
}

// shown is a registry as users name it: docker.io rather than ggcr's index.docker.io.
func shown(reg name.Registry) string {
	if reg.RegistryStr() == name.DefaultRegistry {
		return "docker.io"
	}
	return reg.RegistryStr()
}

func anonymous(kc authn.Keychain, reg name.Registry) bool {
	a, err := kc.Resolve(reg)
	return err != nil || a == authn.Anonymous
}

// GitHosts reports, per git host of the site's plugins, which credentials graft would send:
// https from GRAFT_GIT_TOKEN[_HOST] or netrc (anonymous is fine for public repositories); ssh
// needs a key and the host in known_hosts, else every lock fails.
func GitHosts(p *lockfile.Project, env gitremote.Env) Check {
	return func(_ context.Context, r *Report) {
		if p == nil {
			return
		}
		seen := map[string]bool{}
		for _, pl := range p.Plugins {
			u := p.SourceURL(pl)
			host := gitremote.Host(u)
			if pl.Source.Git == "" || host == "" || seen[host] {
				continue
			}
			seen[host] = true
			switch gitremote.KindOf(u) {
			case gitremote.HTTP:
				r.add("git "+host, OK, gitremote.DescribeHTTPAuth(u, env), "")
			case gitremote.SSH:
				if err := gitremote.CheckSSH(u, env); err != nil {
					r.add("git "+host, Missing, oneLine(err.Error()), "see docs/reference/credentials.md (ssh)")
					continue
				}
				r.add("git "+host, OK, "ssh key found and host in known_hosts", "")
			}
		}
	}
}

// Lock reports whether graft.lock is current: `graft build` builds only from a current lock.
func Lock(p *lockfile.Project, loadErr error) Check {
	return func(_ context.Context, r *Report) {
		var stale error
		if loadErr == nil && p != nil {
			stale = p.CheckFresh()
		}
		switch {
		case loadErr != nil:
			r.add("site", Missing, loadErr.Error(), "fix the file and line it names")
		case p == nil:
			r.add("site", Info, "no graft.toml here: checks of a site's needs skipped", "pass -C DIR to check a site")
		case stale != nil:
			r.add("lock", Missing, stale.Error(), "graft lock, then commit graft.lock")
		default:
			r.add("lock", OK, fmt.Sprintf("graft.lock is current (%d plugins)", len(p.Lock.Plugins)), "")
		}
	}
}

// Cache reports graft's cache folder: its size and the free space beside it.
func Cache(dir string) Check {
	return func(_ context.Context, r *Report) {
		size, err := du(dir)
		if errors.Is(err, fs.ErrNotExist) {
			r.add("cache", Info, dir+": empty (created at the first lock or build)", "")
			return
		}
		if err != nil {
			r.add("cache", Warn, dir+": "+err.Error(), "set GRAFT_CACHE_DIR to a folder graft can write")
			return
		}
		detail := fmt.Sprintf("%s: %s", dir, human(size))
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) == nil {
			free := int64(st.Bavail) * int64(st.Bsize)
			detail += fmt.Sprintf(", %s free", human(free))
			if free < 1<<30 {
				r.add("cache", Warn, detail, "free some space, or delete the cache folder (it is rebuilt on demand)")
				return
			}
		}
		r.add("cache", OK, detail, "")
	}
}

// du sums the sizes of the regular files under dir, following no links.
func du(dir string) (int64, error) {
	if _, err := os.Lstat(dir); err != nil {
		return 0, err
	}
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable corner does not stop the count
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n, err
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
