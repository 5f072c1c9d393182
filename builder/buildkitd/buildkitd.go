// Package buildkitd starts or reuses a BuildKit daemon in a Docker container, as
// `docker buildx create --driver docker-container` does, so a site whose plugins have build
// steps needs nothing but a Docker Engine: `graft build --buildkit auto`.
//
// The container runs a pinned moby/buildkit image (the version of graft's BuildKit client),
// privileged, with its state (/var/lib/buildkit: the step cache) on a named volume, so removing
// or replacing the container keeps the cache. It is reached through the docker-container://
// connection helper (`docker exec NAME buildctl dial-stdio`), like a buildx builder.
package buildkitd

import (
	"context"
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
	// build), and the daemon the tests build (package buildkittest). Bump it with go.mod.
	Version  = "v0.33.1"
	stateDir = "/var/lib/buildkit"
	// labelImage records the image a container was made from, as asked (the engine's Config.Image
	// is the same string, but a label says it was graft's doing).
	labelImage = "org.graft.buildkitd.image"
)

// DefaultImage is moby/buildkit at the version of the BuildKit client graft is built with:
// client and daemon of one release always agree on the protocol and on LLB.
func DefaultImage() string { return "moby/buildkit:" + ClientVersion() }

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
	Addr      string // docker-container://NAME
	Container string
	Image     string
	Volume    string
	Action    string // started, reused, restarted, replaced
}

type options struct {
	image, name string
	log         io.Writer
	readyWithin time.Duration
	docker      []dockerclient.Opt
}

// Option configures Ensure.
type Option func(*options)

// WithImage runs image instead of DefaultImage (a mirror, or a locally built image).
func WithImage(image string) Option { return func(o *options) { o.image = image } }

// WithName names the container (default DefaultContainer); the volume is NAME_state.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithLog is where Ensure says what it started or reused (one line each; default: nowhere).
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
// starting it first when needed, and says on the log which it did.
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
	fmt.Fprintf(o.log, "buildkit: %s container %s (%s, cache in volume %s): --buildkit %s\n",
		res.Action, res.Container, res.Image, res.Volume, res.Addr)
	return res, nil
}

type docker struct {
	c *dockerclient.Client
	o *options
}

func (d *docker) volume() string { return d.o.name + "_state" }

func (d *docker) result(action string) *Result {
	return &Result{Addr: "docker-container://" + d.o.name, Container: d.o.name, Image: d.o.image,
		Volume: d.volume(), Action: action}
}

func (d *docker) ensure(ctx context.Context) (*Result, error) {
	action, err := d.container(ctx)
	if err != nil {
		return nil, err
	}
	res := d.result(action)
	if err := d.waitReady(ctx, res.Addr); err != nil {
		return nil, err
	}
	return res, nil
}

// container brings the named container to running and says how.
func (d *docker) container(ctx context.Context) (string, error) {
	got, err := d.c.ContainerInspect(ctx, d.o.name, dockerclient.ContainerInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		return "started", d.create(ctx)
	case err != nil:
		return "", fmt.Errorf("--buildkit auto: inspect container %s: %w", d.o.name, err)
	}
	c := got.Container
	if c.Config == nil || c.Config.Image != d.o.image {
		// Another version (graft was upgraded, or another image asked for): replace the
		// container; the cache stays in the volume.
		if _, err := d.c.ContainerRemove(ctx, d.o.name, dockerclient.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("--buildkit auto: remove container %s (image %s, want %s): %w", d.o.name, imageOf(c), d.o.image, err)
		}
		return "replaced", d.create(ctx)
	}
	if c.State != nil && c.State.Running {
		return "reused", nil
	}
	if err := d.startOrNarrow(ctx); err != nil {
		return "", err
	}
	return "restarted", nil
}

func imageOf(c container.InspectResponse) string {
	if c.Config == nil {
		return "unknown"
	}
	return c.Config.Image
}

// create makes the volume and the container and starts it. A container another graft created
// meanwhile (same name: conflict) is used as it is.
func (d *docker) create(ctx context.Context) error {
	if err := d.ensureImage(ctx); err != nil {
		return err
	}
	if _, err := d.c.VolumeCreate(ctx, dockerclient.VolumeCreateOptions{Name: d.volume(),
		Labels: map[string]string{labelImage: d.o.image}}); err != nil {
		return fmt.Errorf("--buildkit auto: create volume %s: %w", d.volume(), err)
	}
	err := d.createWith(ctx, privileged())
	if cerrdefs.IsConflict(err) {
		return d.start(ctx)
	}
	if err != nil {
		return err
	}
	return d.startOrNarrow(ctx)
}

// startOrNarrow starts the container; where the engine refuses its privileges, it makes it
// again with the narrower set.
func (d *docker) startOrNarrow(ctx context.Context) error {
	err := d.start(ctx)
	if err == nil || !capsRefused(err) {
		return err
	}
	// Engines that themselves run without every capability (nested in a container, some CI
	// runners) cannot start any privileged container. What rootful buildkitd needs is less:
	// CAP_SYS_ADMIN, no seccomp/AppArmor profile, and a writable cgroup tree for runc.
	fmt.Fprintf(d.o.log, "buildkit: this Docker Engine cannot start privileged containers (runc: unable to apply caps); starting %s with CAP_SYS_ADMIN, no seccomp/AppArmor profile and the host's /sys/fs/cgroup instead\n",
		d.o.name)
	if _, err := d.c.ContainerRemove(ctx, d.o.name, dockerclient.ContainerRemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("--buildkit auto: remove container %s: %w", d.o.name, err)
	}
	if err := d.createWith(ctx, narrow()); err != nil {
		return err
	}
	return d.start(ctx)
}

func (d *docker) createWith(ctx context.Context, hc *container.HostConfig) error {
	hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: d.volume(), Target: stateDir})
	_, err := d.c.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Name: d.o.name,
		Config: &container.Config{Image: d.o.image, Labels: map[string]string{labelImage: d.o.image},
			// The image's entrypoint is buildkitd; the OCI worker with runc needs no containerd.
			Cmd: []string{"--oci-worker=true", "--containerd-worker=false"}},
		HostConfig: hc,
	})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("--buildkit auto: create container %s from %s: %w", d.o.name, d.o.image, err)
	}
	return err
}

// privileged is what buildx's docker-container driver asks for.
func privileged() *container.HostConfig {
	return &container.HostConfig{Privileged: true}
}

func narrow() *container.HostConfig {
	return &container.HostConfig{
		CapAdd:      []string{"CAP_SYS_ADMIN"},
		SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined"},
		Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"}},
	}
}

func capsRefused(err error) bool {
	return strings.Contains(err.Error(), "unable to apply caps")
}

func (d *docker) start(ctx context.Context) error {
	if _, err := d.c.ContainerStart(ctx, d.o.name, dockerclient.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("--buildkit auto: start container %s: %w", d.o.name, err)
	}
	return nil
}

// ensureImage pulls the image when the engine lacks it.
func (d *docker) ensureImage(ctx context.Context) error {
	if _, err := d.c.ImageInspect(ctx, d.o.image); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("--buildkit auto: inspect image %s: %w", d.o.image, err)
	}
	fmt.Fprintf(d.o.log, "buildkit: pulling %s\n", d.o.image)
	resp, err := d.c.ImagePull(ctx, d.o.image, dockerclient.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(ctx)
		resp.Close()
	}
	if err != nil {
		return usererr.New("--buildkit auto: pull %s: %s: load it into Docker (docker load), or name another image with --buildkit-image or GRAFT_BUILDKIT_IMAGE", d.o.image, firstLine(err))
	}
	return nil
}

// waitReady asks the daemon its version until it answers, and stops early when the container
// has exited (its last log lines are the cause).
func (d *docker) waitReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.readyWithin)
	defer cancel()
	var last error
	for {
		if last = ping(ctx, addr); last == nil {
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
