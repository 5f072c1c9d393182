package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/graft-build/graft/internal/netdelay"
)

// bench is one run's environment: the temporary folder, the binaries under test and the servers,
// which scenarios start when they first need them.
type bench struct {
	cfg  *config
	root string // module root (the graft repository)
	src  string // where graft is built from: an export of HEAD, or root with -worktree
	tmp  string
	bin  string // built binaries

	graft       string // path of the graft binary, "" when it did not build
	graftErr    error
	launcher    string // path of graft-launcher, "" when it did not build
	launcherErr error

	git   *gitServer
	reg   *registry
	reg2  *registry // a second registry: the target of a copy
	base  *baseImage
	big   *bigBase         // the realistic base of the first-push rows
	links []*netdelay.Link // the network paths to the servers above, in the order they started

	closers []func()
}

func newBench(ctx context.Context, cfg *config) (*bench, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "graft-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	b := &bench{cfg: cfg, root: root, src: root, tmp: tmp, bin: filepath.Join(tmp, "bin")}
	b.logf("working in %s", tmp)
	if err := os.MkdirAll(b.bin, 0o755); err != nil {
		return nil, err
	}
	if !cfg.worktree {
		// Measure the committed graft (the commit the results name), not files being edited.
		if b.src, err = exportHead(ctx, root, srcDir(tmp), cfg.rev); err != nil {
			return nil, err
		}
	}
	// Build what users run: the real binaries, not the packages called in-process.
	b.graft, b.graftErr = b.goBuild(ctx, "graft", "./cmd/graft", nil)
	// The launcher as shipped: static, -trimpath, stripped (cmd/graft/launchers.go's recipe).
	b.launcher, b.launcherErr = b.goBuild(ctx, "graft-launcher", "./cmd/graft-launcher",
		[]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, "-trimpath", "-ldflags=-s -w")
	if b.launcher != "" {
		// graft without embedded launchers looks beside its executable (README, Build).
		if err := os.Link(b.launcher, filepath.Join(b.bin, "graft-launcher-linux-amd64")); err != nil {
			return nil, fmt.Errorf("link launcher: %w", err)
		}
	}
	return b, nil
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	if b.cfg.keep {
		b.logf("kept %s", b.tmp)
		return
	}
	os.RemoveAll(b.tmp)
}

func (b *bench) onClose(f func()) { b.closers = append(b.closers, f) }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// dockerName is a repository name in the local Docker Engine unique to this run, so two bench
// runs at once never remove each other's images.
func (b *bench) dockerName(what string) string {
	return "graft-bench/" + strings.TrimPrefix(filepath.Base(b.tmp), "graft-bench-") + "/" + what
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from inside the graft repository (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

// srcDir is where HEAD is exported: a fixed folder, so the Go build cache (whose keys include
// source paths) is reused from one bench run to the next.
func srcDir(tmp string) string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "graft-bench", "src")
	}
	return filepath.Join(tmp, "src")
}

// exportHead writes the files of the repository's commit rev (HEAD unless -rev) to dir.
func exportHead(ctx context.Context, root, dir, rev string) (string, error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	archive := filepath.Join(filepath.Dir(dir), "src.tar")
	if _, err := runCmd(ctx, cmdSpec{dir: root}, "git", "archive", "--format=tar", "-o", archive, rev); err != nil {
		return "", fmt.Errorf("export HEAD (use -worktree to build the working tree): %w", err)
	}
	if _, err := runCmd(ctx, cmdSpec{}, "tar", "-xf", archive, "-C", dir); err != nil {
		return "", err
	}
	return dir, os.Remove(archive)
}

// goBuild builds pkg of the graft module into the bench's bin folder.
func (b *bench) goBuild(ctx context.Context, name, pkg string, env []string, flags ...string) (string, error) {
	if _, err := os.Stat(filepath.Join(b.src, filepath.FromSlash(pkg))); err != nil {
		return "", fmt.Errorf("%s does not exist yet", strings.TrimPrefix(pkg, "./"))
	}
	out := filepath.Join(b.bin, name)
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build", "-o", out}, flags...), pkg)...)
	cmd.Dir = b.src
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v: %s", pkg, err, oneLine(string(msg), 200))
	}
	return out, nil
}

// placeholder reports whether a command of the graft CLI is still the skeleton's placeholder.
func (b *bench) placeholder(file string) bool {
	data, err := os.ReadFile(filepath.Join(b.src, "cmd", "graft", file))
	return err != nil || bytes.Contains(data, []byte("not implemented yet"))
}

// cmdSpec is one command to run.
type cmdSpec struct {
	dir   string
	env   []string // added to the environment
	stdin []byte
}

// runCmd runs name with args and returns its stdout; a failure carries the tail of stderr.
func runCmd(ctx context.Context, spec cmdSpec, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = spec.dir
	cmd.Env = append(os.Environ(), spec.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if spec.stdin != nil {
		cmd.Stdin = bytes.NewReader(spec.stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err,
			oneLine(stderr.String()+stdout.String(), 300))
	}
	return stdout.String(), nil
}

// cpuTimes is user+system CPU seconds of this process's waited-for children so far: the
// commands the bench ran and the git server's CGI processes.
func childrenCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// usage is what the kernel accounted to a finished command (and the children it reaped).
type usage struct {
	cpu        float64 // user+system seconds
	pageFaults float64 // minor page faults
	maxRSS     float64 // peak resident set, bytes (the largest of the command and the children it waited for)
}

// runCmdCPU is runCmd that also returns the command's resource usage.
func runCmdCPU(ctx context.Context, spec cmdSpec, name string, args ...string) (usage, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = spec.dir
	cmd.Env = append(os.Environ(), spec.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return usage{}, fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, oneLine(out.String(), 300))
	}
	u := usage{cpu: cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.pageFaults = float64(ru.Minflt)
		u.maxRSS = float64(ru.Maxrss) * 1024
	}
	return u, nil
}

// timeCmd runs a command and returns its wall time (time.Now around exec.Cmd.Run).
func timeCmd(ctx context.Context, spec cmdSpec, name string, args ...string) (time.Duration, error) {
	start := time.Now()
	_, err := runCmd(ctx, spec, name, args...)
	return time.Since(start), err
}

// measure runs setup (untimed) then work (timed) n times and returns the seconds of each run.
func measure(n int, setup func(i int) error, work func(i int) error) ([]float64, error) {
	var out []float64
	for i := 0; i < n; i++ {
		if setup != nil {
			if err := setup(i); err != nil {
				return out, err
			}
		}
		start := time.Now()
		if err := work(i); err != nil {
			return out, err
		}
		out = append(out, time.Since(start).Seconds())
	}
	return out, nil
}

// lookTool finds a peer tool on PATH.
func lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("peer missing: %s", name)
	}
	return p, nil
}

// dockerUsable reports whether the Docker Engine answers.
func dockerUsable(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("peer missing: docker")
	}
	if _, err := runCmd(ctx, cmdSpec{}, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		return errors.New("peer missing: Docker Engine (docker version failed)")
	}
	return nil
}

// runCmdRSS is runCmdCPU whose maxRSS is the command's own peak RSS. The kernel's ru_maxrss of a
// child also counts the memory of the process it was exec'ed from (Go starts children with
// vfork, so a graft started by the bench inherits the bench's own peak, hundreds of MB after
// generating the inputs); GNU time, small and forking, measures graft alone.
func runCmdRSS(ctx context.Context, spec cmdSpec, name string, args ...string) (usage, error) {
	tm, err := exec.LookPath("time")
	if err != nil {
		tm = "/usr/bin/time"
	}
	if _, err := os.Stat(tm); err != nil {
		return usage{}, errors.New("peer missing: GNU time (apt-get install time) to measure peak RSS")
	}
	f, err := os.CreateTemp("", "graft-bench-rss-")
	if err != nil {
		return usage{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	u, err := runCmdCPU(ctx, spec, tm, append([]string{"-f", "%M", "-o", f.Name(), name}, args...)...)
	if err != nil {
		return u, err
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		return u, err
	}
	var kb float64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%g", &kb); err != nil {
		return u, fmt.Errorf("GNU time wrote %q: %w", data, err)
	}
	u.maxRSS = kb * 1024
	return u, nil
}
