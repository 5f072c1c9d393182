package base

import (
	"context"
	"debug/elf"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

//go:embed files/demo.conf.tmpl files/gen-assets.sh
var files embed.FS

// BusyboxPath is where Debian's busybox-static puts the binary (override: BUSYBOX).
const BusyboxPath = "/bin/busybox"

// BuildApp cross-compiles demo-app for linux/arch reproducibly (no cgo, no paths, no VCS
// stamp, no build ID), so the base digest does not depend on the machine or checkout.
func BuildApp(ctx context.Context, moduleRoot, arch, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, "./plugins-example/cmd/demo-app")
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build demo-app: %w: %s", err, b)
	}
	return nil
}

// ReadBusybox reads a static busybox and refuses a dynamic one (it would not run from scratch).
func ReadBusybox() ([]byte, error) {
	p := os.Getenv("BUSYBOX")
	if p == "" {
		p = BusyboxPath
	}
	f, err := elf.Open(p)
	if err != nil {
		return nil, fmt.Errorf("busybox at %s: %w; install Debian's busybox-static (apt-get install busybox-static) or set BUSYBOX", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("busybox at %s is dynamically linked; install busybox-static or set BUSYBOX to a static one", p)
		}
	}
	return os.ReadFile(p)
}

// DefaultInputs gathers everything: builds demo-app in a temp dir, reads busybox and the
// embedded template and script. SOURCE_DATE_EPOCH, when set, replaces DefaultEpoch.
func DefaultInputs(ctx context.Context, moduleRoot, arch string) (Inputs, error) {
	tmp, err := os.MkdirTemp("", "demo-base-")
	if err != nil {
		return Inputs{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "demo-app")
	if err := BuildApp(ctx, moduleRoot, arch, bin); err != nil {
		return Inputs{}, err
	}
	in := Inputs{Arch: arch, Epoch: DefaultEpoch}
	if in.App, err = os.ReadFile(bin); err != nil {
		return Inputs{}, err
	}
	if in.Busybox, err = ReadBusybox(); err != nil {
		return Inputs{}, err
	}
	tmpl, _ := files.ReadFile("files/demo.conf.tmpl")
	gen, _ := files.ReadFile("files/gen-assets.sh")
	in.Templates = map[string][]byte{"demo.conf.tmpl": tmpl}
	in.Lib = map[string][]byte{"gen-assets.sh": gen}
	if epoch, err := epochFromEnv(); err != nil {
		return Inputs{}, err
	} else if !epoch.IsZero() {
		in.Epoch = epoch
	}
	return in, nil
}

func epochFromEnv() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds; unset it or give e.g. 1715558400", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}
