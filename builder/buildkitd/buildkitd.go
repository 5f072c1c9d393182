// Package buildkitd starts or reuses a BuildKit daemon in a Docker container, as
// `docker buildx create --driver docker-container` does, so a site whose plugins have build
// steps needs nothing but a Docker Engine: `graft build --buildkit auto`.
//
// The container runs moby/buildkit at the version of graft's BuildKit client, pinned by
// digest, with the least privilege that works on the engine: rootless BuildKit (the -rootless
// image: buildkitd as an unprivileged user in a user namespace), else a privileged container,
// else CAP_SYS_ADMIN without seccomp/AppArmor (engines that cannot grant every capability). Its
// state (the step cache) lives on a named volume, so removing or replacing the container keeps
// the cache. graft labels what it creates and never uses, removes or replaces a container of
// that name it did not label. It is reached through the docker-container:// connection helper
// (`docker exec NAME buildctl dial-stdio`), like a buildx builder.
package buildkitd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/buildkit/client"
	// docker-container:// addresses.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	dockerclient "github.com/moby/moby/client"

	"github.com/graft-build/graft/internal/usererr"
)

// Defaults: one container and one state volume per Docker Engine, shared by every site.
const (
	DefaultContainer = "graft-buildkitd"
	// Version is go.mod's github.com/moby/buildkit version, the one place graft names it:
	// ClientVersion's answer when the binary carries no module information (never in a normal
	// build), the release whose images are pinned below, and the daemon the tests build
	// (package buildkittest). Bump it with go.mod and pinned.
	Version = "v0.33.1"
	// labelImage records the image asked for (the default or --buildkit-image) on what graft
	// creates; a container without it was not made by graft. labelPrivileges says how it runs.
	labelImage      = "org.graft.buildkitd.image"
	labelPrivileges = "org.graft.buildkitd.privileges"
)

// pinned are the official images' index digests (Docker Hub's, multi-architecture) per BuildKit
// release graft was built with: a tag can be moved, a digest cannot. A version missing here is
// run by tag (TestDefaultImageIsPinned keeps the client's version here).
var pinned = map[string]struct{ rootful, rootless string }{
	Version: {
		rootful:  "sha256:cec9f139f45e93c5c69c60f8b07cfad9f43f4ef6b6a6cd917527fea5ff2e3dea",
		rootless: "sha256:f8a833b2de9d68e27f0815e4a737abdfaf8a2e4c615650557df11025101557b4",
	},
}

// DefaultImage is moby/buildkit at the version of the BuildKit client graft is built with,
// pinned by digest: client and daemon of one release always agree on the protocol and on LLB.
func DefaultImage() string { return image(ClientVersion(), false) }

// DefaultRootlessImage is DefaultImage's rootless variant (moby/buildkit:VERSION-rootless).
func DefaultRootlessImage() string { return image(ClientVersion(), true) }

func image(version string, rootless bool) string {
	tag, d := "moby/buildkit:"+version, pinned[version].rootful
	if rootless {
		tag, d = tag+"-rootless", pinned[version].rootless
	}
	if d == "" {
		return tag
	}
	return tag + "@" + d
}

// ClientVersion is the github.com/moby/buildkit version in graft's build.
func ClientVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/moby/buildkit" {
				if m.Replace != nil && m.Replace.Version != "" {
					return m.Replace.Version
				}
				if m.Version != "" && m.Version != "(devel)" {
					return m.Version
				}
			}
		}
	}
	return Version
}

// Result is what Ensure found or did.
type Result struct {
	Addr       string // docker-container://NAME
	Container  string
	Image      string // the image the container runs
	Volume     string
	Action     string // started, reused, restarted, replaced
	Privileges string // rootless, privileged or cap-sys-admin
}

type options struct {
	image, name string
	custom      bool   // image given by the caller, not DefaultImage
	rootless    string // the rootless image to try first (default: DefaultRootlessImage with DefaultImage)
	log         io.Writer
	readyWithin time.Duration
	docker      []dockerclient.Opt
}

// Option configures Ensure.
type Option func(*options)

// WithImage runs image instead of DefaultImage (a mirror, or a locally built image). An image
// whose user is not root is run rootless, any other one rootful (privileged, else
// CAP_SYS_ADMIN).
func WithImage(image string) Option {
	return func(o *options) { o.image, o.custom = image, true }
}

// WithRootlessImage is the rootless image to try before the rootful one (a mirror of
// DefaultRootlessImage beside one of DefaultImage given with WithImage).
func WithRootlessImage(image string) Option { return func(o *options) { o.rootless = image } }

// WithName names the container (default DefaultContainer); the volume is NAME_state (NAME_rootless_state
// for a rootless container).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithLog is where Ensure says what it started or reused and with which privileges (one line
// each; default: nowhere). graft passes stderr whatever --progress says.
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// WithReadyTimeout bounds the wait for a started daemon to answer (default 60s).
func WithReadyTimeout(d time.Duration) Option { return func(o *options) { o.readyWithin = d } }

// WithDockerHost talks to the engine at host instead of DOCKER_HOST or the default socket.
func WithDockerHost(host string) Option {
	return func(o *options) { o.docker = append(o.docker, dockerclient.WithHost(host)) }
}

// Reachable reports whether a Docker Engine answers (DOCKER_HOST or the default socket) within
// a few seconds: `graft build` starts buildkitd by itself only where one does.
func Reachable(ctx context.Context) bool {
	dc, err := dockerclient.New(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return false
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = dc.Ping(ctx, dockerclient.PingOptions{})
	return err == nil
}

// Ensure returns the address of a running buildkitd container that answers, creating or
// starting it first when needed, and says on the log what runs and with which privileges. A
// container it created and could not bring up is removed again.
func Ensure(ctx context.Context, opts ...Option) (*Result, error) {
	o := &options{image: DefaultImage(), name: DefaultContainer, log: io.Discard, readyWithin: 60 * time.Second}
	for _, opt := range opts {
		opt(o)
	}
	if err := checkName(o.name); err != nil {
		return nil, err
	}
	dc, err := dockerclient.New(append([]dockerclient.Opt{dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation()}, o.docker...)...)
	if err != nil {
		return nil, usererr.New("--buildkit auto: Docker client: %v", err)
	}
	defer dc.Close()
	if _, err := dc.Ping(ctx, dockerclient.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, usererr.New("--buildkit auto starts buildkitd in Docker, but no Docker Engine answers (%s): start Docker, set DOCKER_HOST, or give --buildkit ADDR", firstLine(err))
	}
	d := &docker{c: dc, o: o}
	res, err := d.ensure(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.log, "buildkit: %s container %s (%s, %s; cache in volume %s): --buildkit %s\n",
		res.Action, res.Container, res.Image, describe(res.Privileges), res.Volume, res.Addr)
	return res, nil
}

type docker struct {
	c *dockerclient.Client
	o *options
}

func (d *docker) addr() string { return "docker-container://" + d.o.name }

// ensure brings the named container to running and answering, and says how.
func (d *docker) ensure(ctx context.Context) (*Result, error) {
	got, err := d.c.ContainerInspect(ctx, d.o.name, dockerclient.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		return d.create(ctx, "started")
	case err != nil:
		return nil, fmt.Errorf("--buildkit auto: inspect container %s: %w", d.o.name, err)
	}
	c := got.Container
	var labels map[string]string
	if c.Config != nil {
		labels = c.Config.Labels
	}
	asked, ours := labels[labelImage]
	if !ours {
		return nil, usererr.New("--buildkit auto: a container named %s exists that graft did not create (it has no %s label; image %s); "+
			"graft neither uses nor removes it: remove it yourself (docker rm -f %s), or set %s to another name",
			d.o.name, labelImage, imageOf(c), d.o.name, "GRAFT_BUILDKIT_CONTAINER")
	}
	if asked != d.o.image {
		// Another version (graft was upgraded, or another image asked for): replace graft's
		// container; the cache stays in the volume.
		if _, err := d.c.ContainerRemove(ctx, d.o.name, dockerclient.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("--buildkit auto: remove container %s (image %s, want %s): %w", d.o.name, asked, d.o.image, err)
		}
		return d.create(ctx, "replaced")
	}
	p := privilegesNamed(labels[labelPrivileges], imageOf(c))
	res := &Result{Addr: d.addr(), Container: d.o.name, Image: imageOf(c), Volume: p.volume(d.o.name), Action: "reused", Privileges: p.name}
	if c.State != nil && c.State.Running {
		return res, d.waitReady(ctx)
	}
	res.Action = "restarted"
	err = d.start(ctx)
	if err == nil {
		err = d.waitReady(ctx)
	}
	if err == nil {
		return res, nil
	}
	// graft's own stopped container no longer starts (the engine changed, or it was made
	// with privileges the engine refuses): make it again; the cache stays in the volume.
	fmt.Fprintf(d.o.log, "buildkit: container %s does not start again (%s); making it anew\n", d.o.name, firstLine(err))
	if _, err := d.c.ContainerRemove(ctx, d.o.name, dockerclient.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("--buildkit auto: remove container %s: %w", d.o.name, err)
	}
	return d.create(ctx, "replaced")
}

func imageOf(c container.InspectResponse) string {
	if c.Config == nil {
		return "unknown"
	}
	return c.Config.Image
}

// create tries each privilege set graft may run buildkitd with, least first, and keeps the
// first whose daemon answers. What it created for a set that failed is removed, so a failed
// start leaves no container behind.
func (d *docker) create(ctx context.Context, action string) (*Result, error) {
	sets, err := d.candidates(ctx)
	if err != nil {
		return nil, err
	}
	var failed []string
	for i, p := range sets {
		err := d.try(ctx, p)
		if errors.Is(err, errRace) {
			return d.ensure(ctx) // another graft made it meanwhile: use it as found
		}
		if err == nil {
			res := &Result{Addr: d.addr(), Container: d.o.name, Image: p.image, Volume: p.volume(d.o.name), Action: action, Privileges: p.name}
			if len(failed) > 0 {
				fmt.Fprintf(d.o.log, "buildkit: %s did not work on this Docker Engine (%s); running %s instead\n",
					sets[0].name, strings.Join(failed, "; "), p.name)
			}
			return res, nil
		}
		// Any failure, a failed pull too (a site may hold only one of the images), moves on.
		if ctx.Err() != nil || i == len(sets)-1 {
			if len(failed) > 0 {
				return nil, fmt.Errorf("%w (before: %s)", err, strings.Join(failed, "; "))
			}
			return nil, err
		}
		failed = append(failed, p.name+": "+firstLine(err))
	}
	return nil, errors.New("--buildkit auto: no way to run buildkitd") // unreachable: sets is never empty
}

// errRace is a container of the same name created by another graft meanwhile.
var errRace = errors.New("container created meanwhile")

// try creates the container with privilege set p, starts it and waits for the daemon; on
// failure it removes the container (and the volume, when it made it).
func (d *docker) try(ctx context.Context, p privileges) (err error) {
	if err := d.ensureImage(ctx, p.image); err != nil {
		return err
	}
	vol := p.volume(d.o.name)
	_, inspectErr := d.c.VolumeInspect(ctx, vol, dockerclient.VolumeInspectOptions{})
	madeVolume := cerrdefs.IsNotFound(inspectErr)
	if _, err := d.c.VolumeCreate(ctx, dockerclient.VolumeCreateOptions{Name: vol,
		Labels: map[string]string{labelImage: d.o.image, labelPrivileges: p.name}}); err != nil {
		return fmt.Errorf("--buildkit auto: create volume %s: %w", vol, err)
	}
	hc := p.host()
	hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: vol, Target: p.state})
	_, err = d.c.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Name: d.o.name,
		Config: &container.Config{Image: p.image, Labels: map[string]string{labelImage: d.o.image, labelPrivileges: p.name},
			// The image's entrypoint is buildkitd (rootlesskit buildkitd); the OCI worker with
			// runc needs no containerd.
			Cmd: p.args},
		HostConfig: hc,
	})
	if cerrdefs.IsConflict(err) {
		return errRace
	}
	if err != nil {
		if madeVolume {
			d.c.VolumeRemove(context.WithoutCancel(ctx), vol, dockerclient.VolumeRemoveOptions{})
		}
		return fmt.Errorf("--buildkit auto: create container %s from %s: %w", d.o.name, p.image, err)
	}
	defer func() {
		if err != nil {
			d.remove(context.WithoutCancel(ctx), vol, madeVolume)
		}
	}()
	if err := d.start(ctx); err != nil {
		return err
	}
	return d.waitReady(ctx)
}

// remove takes away a container this run created (and its volume when new).
func (d *docker) remove(ctx context.Context, vol string, volume bool) {
	d.c.ContainerRemove(ctx, d.o.name, dockerclient.ContainerRemoveOptions{Force: true})
	if volume {
		d.c.VolumeRemove(ctx, vol, dockerclient.VolumeRemoveOptions{})
	}
}

func (d *docker) start(ctx context.Context) error {
	if _, err := d.c.ContainerStart(ctx, d.o.name, dockerclient.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("--buildkit auto: start container %s: %w", d.o.name, err)
	}
	return nil
}

// ensureImage pulls image when the engine lacks it.
func (d *docker) ensureImage(ctx context.Context, image string) error {
	if _, err := d.c.ImageInspect(ctx, image); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("--buildkit auto: inspect image %s: %w", image, err)
	}
	fmt.Fprintf(d.o.log, "buildkit: pulling %s\n", image)
	resp, err := d.c.ImagePull(ctx, image, dockerclient.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(ctx)
		resp.Close()
	}
	if err != nil {
		return usererr.New("--buildkit auto: pull %s: %s: load it into Docker (docker load), or name another image with --buildkit-image or GRAFT_BUILDKIT_IMAGE", image, firstLine(err))
	}
	return nil
}

// waitReady asks the daemon its version until it answers, and stops early when the container
// has exited (its last log lines are the cause).
func (d *docker) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.readyWithin)
	defer cancel()
	var last error
	for {
		if last = ping(ctx, d.addr()); last == nil {
			return nil
		}
		got, err := d.c.ContainerInspect(ctx, d.o.name, dockerclient.ContainerInspectOptions{})
		if err == nil && got.Container.State != nil && !got.Container.State.Running {
			return fmt.Errorf("--buildkit auto: buildkitd in container %s exited (%d): %s", d.o.name,
				got.Container.State.ExitCode, d.logTail(ctx))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("--buildkit auto: buildkitd in container %s does not answer after %s (%s): %s",
				d.o.name, d.o.readyWithin, firstLine(last), d.logTail(context.Background()))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Info(ctx)
	return err
}

// logTail is the container's last log lines on one line (bounded).
func (d *docker) logTail(ctx context.Context) string {
	rc, err := d.c.ContainerLogs(ctx, d.o.name, dockerclient.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return "no logs"
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 4096))
	// The log stream is multiplexed: keep printable text only.
	s := strings.Map(func(r rune) rune {
		if r == '\n' {
			return ' '
		}
		if r < 0x20 || r == 0xfffd {
			return -1
		}
		return r
	}, string(b))
	return strings.Join(strings.Fields(s), " ")
}

// checkName accepts Docker's container names, which also end up in a docker-container:// URL.
func checkName(name string) error {
	if name == "" || len(name) > 128 {
		return usererr.New("buildkitd container name %q: use 1-128 letters, digits, '_', '.', '-'", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && strings.ContainsRune("_.-", r)
		if !ok {
			return usererr.New("buildkitd container name %q: use letters, digits, '_', '.', '-' (starting with a letter or digit)", name)
		}
	}
	return nil
}

func firstLine(err error) string {
	if err == nil {
		return "no answer"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSpace(s)
}
