// Command graft-image builds graft's image for CI as an OCI layout, daemonlessly and
// reproducibly: graft with its launchers embedded (launcherbuild's recipe, as a release), Debian's
// static busybox and CA bundle, a non-root user.
//
//	go run ./internal/ciimage/cmd/graft-image [-o out/graft-image] [-version v1.2.3] [-arch amd64] [-push REF]
//
// Like `go generate ./cmd/graft`, it writes the launchers into cmd/graft/launchers/ first.
// Timestamps: SOURCE_DATE_EPOCH, else the HEAD commit's time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/ciimage"
	"github.com/graft-build/graft/internal/launcherbuild"
)

func main() {
	var o opts
	flag.StringVar(&o.out, "o", "out/graft-image", "output: an OCI layout folder, or FILE.tar")
	flag.StringVar(&o.version, "version", "", "graft's version (-X internal/version.Version), e.g. v1.2.3; empty: devel")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "image architecture (busybox must match)")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "a static busybox (Debian: busybox-static)")
	flag.StringVar(&o.ca, "ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle (Debian: ca-certificates)")
	flag.StringVar(&o.push, "push", "", "also push to this reference (Docker config credentials, as graft build)")
	flag.Parse()
	digest, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "graft-image:", err)
		os.Exit(1)
	}
	fmt.Println(digest)
}

type opts struct{ out, version, arch, busybox, ca, push string }

func run(ctx context.Context, o opts) (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root, ok := launcherbuild.ModuleRoot(cwd)
	if !ok {
		return "", fmt.Errorf("run inside the graft module")
	}
	epoch, err := sourceEpoch(root)
	if err != nil {
		return "", err
	}
	graft, err := buildGraft(ctx, root, o)
	if err != nil {
		return "", err
	}
	busybox, err := os.ReadFile(o.busybox)
	if err != nil {
		return "", fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	ca, err := os.ReadFile(o.ca)
	if err != nil {
		return "", fmt.Errorf("%w (apt-get install ca-certificates)", err)
	}
	version := o.version
	if version == "" {
		version = "devel"
	}
	img, err := ciimage.Image(ciimage.Inputs{Graft: graft, Busybox: busybox, CA: ca, Version: version, Arch: o.arch, Epoch: epoch})
	if err != nil {
		return "", err
	}
	specs := []string{"type=oci,dest=" + o.out + ",name=graft:" + strings.ReplaceAll(version, "+", "-")}
	if o.push != "" {
		specs = append(specs, "type=registry,name="+o.push)
	}
	for _, spec := range specs {
		pub, err := publish.Parse(spec, publish.Options{BaseDir: cwd})
		if err != nil {
			return "", err
		}
		if _, err := pub.Publish(ctx, publish.Artifact{Image: img}, os.Stderr); err != nil {
			return "", err
		}
	}
	d, err := img.Digest()
	return d.String(), err
}

// buildGraft embeds the launchers (every platform graft ships) and builds graft for the image.
func buildGraft(ctx context.Context, root string, o opts) ([]byte, error) {
	if err := launcherbuild.Generate(ctx, root, filepath.Join(root, "cmd/graft/launchers"), o.version,
		launcherbuild.Target{OS: "linux", Arch: "amd64"}, launcherbuild.Target{OS: "linux", Arch: "arm64"}); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "graft-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "graft")
	if err := runGo(launcherbuild.GoBuild(ctx, launcherbuild.Target{OS: "linux", Arch: o.arch}, o.version, root, out, "./cmd/graft")); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

func runGo(cmd *exec.Cmd, err error) error {
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
	}
	return nil
}

func sourceEpoch(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct").Output()
		if err != nil {
			return time.Time{}, fmt.Errorf("no SOURCE_DATE_EPOCH and no git commit time: %w", err)
		}
		s = strings.TrimSpace(string(out))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}
