package buildkitd

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// Privilege sets a buildkitd container may run with, least first. What each grants:
//
//   - rootless: the -rootless image runs buildkitd as user 1000 in a user namespace
//     (rootlesskit): root inside the builds is that user outside. Docker's seccomp and AppArmor
//     profiles and its masking of /proc paths are lifted for it (they forbid the namespaces
//     rootlesskit and runc create), as BuildKit's docs for rootless mode say.
//   - privileged: what buildx's docker-container driver asks for: every capability, every host
//     device, no seccomp or AppArmor profile. Root in the container is root on the host.
//   - cap-sys-admin: for engines that cannot grant every capability (runc: "unable to apply
//     caps", e.g. an engine that itself runs in a container): CAP_SYS_ADMIN, no seccomp or
//     AppArmor profile, and the host's /sys/fs/cgroup writable for runc. Also root-equivalent;
//     tried last because it exposes the host's whole cgroup tree.
const (
	rootless     = "rootless"
	privileged   = "privileged"
	capSysAdmin  = "cap-sys-admin"
	rootfulState = "/var/lib/buildkit"
	// rootlessState is where the -rootless image's buildkitd keeps its state ($HOME of user 1000).
	rootlessState = "/home/user/.local/share/buildkit"
)

// privileges is one way to run buildkitd.
type privileges struct {
	name  string
	image string
	state string   // buildkitd's state folder in the container
	args  []string // after the image's entrypoint
	host  func() *container.HostConfig
}

// volume is the state volume of container name: rootless state is owned by the namespace's
// users, so it has a volume of its own.
func (p privileges) volume(name string) string {
	if p.name == rootless {
		return name + "_rootless_state"
	}
	return name + "_state"
}

// describe says in a few words what a privilege set grants, for the line graft prints.
func describe(name string) string {
	switch name {
	case rootless:
		return "rootless: buildkitd as an unprivileged user in a user namespace, seccomp/AppArmor/proc masking lifted for it"
	case privileged:
		return "privileged: every capability and host device, no seccomp/AppArmor profile"
	case capSysAdmin:
		return "CAP_SYS_ADMIN, no seccomp/AppArmor profile, the host's /sys/fs/cgroup writable"
	}
	return "privileges not recorded: made by an older graft"
}

// oci is buildkitd's worker: the OCI worker with runc needs no containerd.
var oci = []string{"--oci-worker=true", "--containerd-worker=false"}

func rootlessSet(image string) privileges {
	return privileges{name: rootless, image: image, state: rootlessState, args: oci, host: func() *container.HostConfig {
		return &container.HostConfig{
			SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined"},
			// What the docker CLI sends for --security-opt systempaths=unconfined: runc in the
			// user namespace mounts a fresh /proc for each build step's PID namespace.
			MaskedPaths: []string{}, ReadonlyPaths: []string{},
		}
	}}
}

func privilegedSet(image string) privileges {
	return privileges{name: privileged, image: image, state: rootfulState, args: oci, host: func() *container.HostConfig {
		return &container.HostConfig{Privileged: true}
	}}
}

func capSysAdminSet(image string) privileges {
	return privileges{name: capSysAdmin, image: image, state: rootfulState, args: oci, host: func() *container.HostConfig {
		return &container.HostConfig{
			CapAdd:      []string{"CAP_SYS_ADMIN"},
			SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined"},
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"}},
		}
	}}
}

// privilegesNamed is the privilege set a container graft labelled runs with.
func privilegesNamed(name, image string) privileges {
	switch name {
	case rootless:
		return rootlessSet(image)
	case capSysAdmin:
		return capSysAdminSet(image)
	case privileged:
		return privilegedSet(image)
	}
	return privileges{name: name, image: image, state: rootfulState}
}

// candidates are the privilege sets to try, least first. graft's default image comes with a
// rootless variant, and a rootful image given by the caller may come with one; an image given
// alone runs rootless when its user is not root (as the -rootless images' is), else rootful.
func (d *docker) candidates(ctx context.Context) ([]privileges, error) {
	switch {
	case d.o.rootless != "":
		return []privileges{rootlessSet(d.o.rootless), privilegedSet(d.o.image), capSysAdminSet(d.o.image)}, nil
	case !d.o.custom:
		return []privileges{rootlessSet(DefaultRootlessImage()), privilegedSet(d.o.image), capSysAdminSet(d.o.image)}, nil
	}
	if err := d.ensureImage(ctx, d.o.image); err != nil {
		return nil, err
	}
	img, err := d.c.ImageInspect(ctx, d.o.image)
	if err != nil {
		return nil, fmt.Errorf("--buildkit auto: inspect image %s: %w", d.o.image, err)
	}
	user := ""
	if img.Config != nil {
		user = img.Config.User
	}
	if u, _, _ := strings.Cut(user, ":"); u != "" && u != "root" && u != "0" {
		return []privileges{rootlessSet(d.o.image)}, nil
	}
	return []privileges{privilegedSet(d.o.image), capSysAdminSet(d.o.image)}, nil
}
