package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Every exit code 0-255 of the command comes out of the launcher unchanged (four at a time).
func TestExitCodesPropagated(t *testing.T) {
	e := env(emptyConfig(t))
	codes := make(chan int)
	failures := make(chan string, 256)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for code := range codes {
				cmd := exec.Command(launcherBin, "exec", "--", "sh", "-c", fmt.Sprintf("exit %d", code))
				cmd.Env = e
				out, _ := cmd.CombinedOutput()
				if got := cmd.ProcessState.ExitCode(); got != code {
					failures <- fmt.Sprintf("exit %d: launcher exited %d (%s)", code, got, out)
				}
			}
		}()
	}
	for code := 0; code <= 255; code++ {
		codes <- code
	}
	close(codes)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

// A supervised process (run, not exec) that exits ends the launcher with its code.
func TestRunExitCodePropagated(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[process]]\nname = \"job\"\ncommand = [\"sh\", \"-c\", \"sleep 0.1; exit 42\"]\ncomponents = []\n", dir))
	p := startLauncher(t, env(cfg), "run")
	if code := p.wait(t, 5*time.Second); code != 42 {
		t.Fatalf("exit %d, want 42; stderr: %s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "process job exited with code 42; stopping the others") {
		t.Fatalf("stderr: %s", p.stderr)
	}
}

// A command killed by signal N gives 128+N, like tini and shells.
func TestSignalExitCodes(t *testing.T) {
	e := env(emptyConfig(t))
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGABRT,
		syscall.SIGKILL, syscall.SIGUSR1, syscall.SIGSEGV, syscall.SIGUSR2, syscall.SIGTERM} {
		cmd := exec.Command(launcherBin, "exec", "--", "sh", "-c", fmt.Sprintf("kill -%d $$", int(sig)))
		cmd.Env = e
		out, _ := cmd.CombinedOutput()
		if got := cmd.ProcessState.ExitCode(); got != 128+int(sig) {
			t.Errorf("killed by %s: launcher exited %d, want %d (%s)", sig, got, 128+int(sig), out)
		}
	}
}

// Signals sent to the launcher reach the command and its exit reflects them.
func TestForwardedSignalsEndWith128PlusN(t *testing.T) {
	e := env(emptyConfig(t))
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM} {
		p := startLauncher(t, e, "exec", "--", "sleep", "100")
		waitFor(t, 5*time.Second, "sleep to start", func() bool {
			kids, _ := childrenOf(p.cmd.Process.Pid)
			return len(kids) == 1
		})
		p.signal(t, sig)
		if code := p.wait(t, 5*time.Second); code != 128+int(sig) {
			t.Errorf("%s: exit %d, want %d; stderr: %s", sig, code, 128+int(sig), p.stderr)
		}
	}
}

// SIGURG (the Go runtime's preemption signal) is never forwarded; other signals are.
func TestSIGURGNeverReachesChild(t *testing.T) {
	e := env(emptyConfig(t), childEnv+"=signals", "GODEBUG=asyncpreemptoff=1")
	p := startLauncher(t, e, "exec", "--", os.Args[0])
	waitFor(t, 5*time.Second, "child ready", func() bool { return strings.Contains(p.stdout.String(), "ready") })
	for i := 0; i < 20; i++ {
		p.signal(t, syscall.SIGURG)
		time.Sleep(5 * time.Millisecond)
	}
	p.signal(t, syscall.SIGUSR1)
	waitFor(t, 5*time.Second, "SIGUSR1 forwarded", func() bool { return strings.Contains(p.stdout.String(), "got SIGUSR1") })
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, p.stderr)
	}
	if strings.Contains(p.stdout.String(), "SIGURG") {
		t.Fatalf("child received SIGURG:\n%s", p.stdout)
	}
}

func orphansConfig(t *testing.T) string {
	dir := t.TempDir()
	return writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n%s", dir, selfProcess("orphans", "orphans")))
}

// 100 orphans reparented to the launcher are reaped. The control (a subreaper that only waits
// for its own child) shows the same setup leaves 100 zombies, so the test can fail.
func TestOrphansReaped(t *testing.T) {
	t.Run("control without reaper keeps zombies", func(t *testing.T) {
		p := startCmd(t, env(childEnv+"=naive-subreaper"), os.Args[0])
		waitFor(t, 10*time.Second, "orphans spawned", func() bool { return strings.Contains(p.stdout.String(), "spawned") })
		time.Sleep(300 * time.Millisecond)
		if _, zombies := childrenOf(p.cmd.Process.Pid); zombies != 100 {
			t.Fatalf("control: %d zombies under the naive subreaper, want 100", zombies)
		}
	})
	t.Run("launcher reaps them", func(t *testing.T) {
		p := startLauncher(t, env(orphansConfig(t)), "run")
		waitFor(t, 10*time.Second, "orphans spawned", func() bool { return strings.Contains(p.stdout.String(), "spawned") })
		waitFor(t, 3*time.Second, "no zombies under the launcher", func() bool {
			_, zombies := childrenOf(p.cmd.Process.Pid)
			return zombies == 0
		})
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t, 5*time.Second); code != 128+int(syscall.SIGTERM) {
			t.Fatalf("exit %d; stderr: %s", code, p.stderr)
		}
	})
}

// As real PID 1 of a new PID namespace: exit codes pass through, orphans are reaped, SIGTERM
// from outside the namespace is handled.
func TestAsPID1(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare and root are needed to test PID 1 (unshare: %v, euid %d)", err, os.Geteuid())
		}
		t.Skip("PID 1 test needs unshare and root; the subreaper tests cover the same code")
	}
	e := env(emptyConfig(t))
	cmd := exec.Command(unshare, "--pid", "--fork", "--kill-child", launcherBin, "exec", "--", "sh", "-c", "echo pid=$PPID; exit 7")
	cmd.Env = e
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 7 || !strings.Contains(string(out), "pid=1\n") {
		t.Fatalf("as PID 1: exit %d, output %q (want 7 and the launcher as pid 1)", cmd.ProcessState.ExitCode(), out)
	}

	// With its own /proc, as in a container (the exec case above sees the host's /proc).
	p := startCmd(t, env(orphansConfig(t)), unshare, "--pid", "--fork", "--kill-child", "--mount-proc", launcherBin, "run")
	waitFor(t, 10*time.Second, "orphans spawned", func() bool { return strings.Contains(p.stdout.String(), "spawned") })
	kids, _ := childrenOf(p.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("unshare has children %v, want the launcher only", kids)
	}
	launcher := kids[0]
	waitFor(t, 3*time.Second, "no zombies under PID 1", func() bool {
		_, zombies := childrenOf(launcher)
		return zombies == 0
	})
	if err := syscall.Kill(launcher, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 5*time.Second); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d after SIGTERM to PID 1; stderr: %s", code, p.stderr)
	}
}

// Stopping signals the whole process group: a grandchild in the group dies too.
func TestProcessGroupStop(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[process]]\nname = \"sh\"\ncommand = %s\ncomponents = []\n",
		dir, tomlList("sh", "-c", "sleep 1000 & echo $! > "+pidFile+"; wait")))
	p := startLauncher(t, env(cfg), "run")
	grandchild := readPid(t, pidFile)
	if !alive(grandchild) {
		t.Fatal("grandchild not running")
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 5*time.Second); code != 143 {
		t.Fatalf("exit %d, want 143; stderr: %s", code, p.stderr)
	}
	if alive(grandchild) {
		syscall.Kill(grandchild, syscall.SIGKILL)
		t.Fatal("grandchild in the process group survived the stop")
	}
}

// A process group that ignores SIGTERM gets SIGKILL after GRAFT_STOP_TIMEOUT.
func TestStopTimeoutKills(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[process]]\nname = \"stubborn\"\ncommand = %s\ncomponents = []\n",
		dir, tomlList("sh", "-c", "trap '' TERM; echo $$ > "+started+"; while :; do sleep 0.05; done")))
	p := startLauncher(t, env(cfg, "GRAFT_STOP_TIMEOUT=400ms"), "run")
	readPid(t, started)
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 5*time.Second)
	took := time.Since(sent)
	if code != 137 {
		t.Fatalf("exit %d, want 137 (SIGKILL); stderr: %s", code, p.stderr)
	}
	if took < 400*time.Millisecond || took > 2*time.Second {
		t.Fatalf("stopped after %s, want just over the 400ms grace period", took)
	}
	if !strings.Contains(p.stderr.String(), "processes still running 400ms after SIGTERM; sent SIGKILL") {
		t.Fatalf("stderr: %s", p.stderr)
	}
}

// A daemon that left our process groups (setsid) and was reparented to the launcher is stopped
// too, so it does not outlive a launcher that is not PID 1.
func TestStrayDaemonStopped(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "daemon.pid")
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n[[process]]\nname = \"sh\"\ncommand = %s\ncomponents = []\n",
		dir, tomlList("sh", "-c", "(setsid sleep 1000 & echo $! > "+pidFile+"); exec sleep 1000")))
	p := startLauncher(t, env(cfg), "run")
	daemon := readPid(t, pidFile)
	waitFor(t, 5*time.Second, "daemon reparented to the launcher", func() bool {
		_, ppid, ok := procStat(daemon)
		return ok && ppid == p.cmd.Process.Pid
	})
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 5*time.Second)
	if alive(daemon) {
		syscall.Kill(daemon, syscall.SIGKILL)
		t.Fatal("stray daemon outlived the launcher")
	}
}

// On a terminal, exec gives the command the foreground, so an interactive command can read it;
// in a background process group the read would stop it with SIGTTIN and hang.
func TestExecInteractiveTerminal(t *testing.T) {
	script, err := exec.LookPath("script") // util-linux: runs a command on a new pseudo-terminal
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script (util-linux) is needed to test terminals")
		}
		t.Skip("script (util-linux) not installed; cannot give the launcher a terminal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "-qec", launcherBin+" exec -- sh -c 'read x; echo got $x; exit 4'", "/dev/null")
	cmd.Env = env(emptyConfig(t))
	cmd.Stdin = strings.NewReader("hello\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, _ := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("interactive command hung (stopped in the background?): %q", out)
	}
	if !strings.Contains(string(out), "got hello") || cmd.ProcessState.ExitCode() != 4 {
		t.Fatalf("exit %d, output %q; want 4 and \"got hello\"", cmd.ProcessState.ExitCode(), out)
	}
}
