// Package supervise is the PID 1 part of the launcher: it starts processes in their own process
// groups, owns the only wait4(-1) loop in the program (so zombies are reaped and no exit status
// is stolen from its waiter), forwards signals to every group and stops them with a grace period.
//
// Nothing else in the launcher may wait for children: exec.Cmd.Wait would race the reaper and
// fail with "waitid: no child processes". Hooks, processes and `exec` commands all go through
// Supervisor.Start.
package supervise

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Spec is a program to start.
type Spec struct {
	Name     string   // for messages
	Argv     []string // Argv[0] is looked up in the PATH of Env when it has no slash
	Env      []string // KEY=VALUE, the complete environment
	Dir      string   // working directory; "" keeps the launcher's
	UID, GID uint32   // used when SetUser is true
	SetUser  bool
	// Foreground makes the process group the terminal's foreground group (fd 0 must be a
	// terminal), so an interactive `exec -- bash` can read the terminal instead of being
	// stopped by SIGTTIN.
	Foreground bool
	// Stdout and Stderr replace the launcher's own (a pipe the launcher reads, say); nil keeps
	// the launcher's.
	Stdout, Stderr *os.File
}

// Proc is a started program, leader of its own process group (pgid == Pid).
type Proc struct {
	Name   string
	Pid    int
	done   chan struct{}
	status syscall.WaitStatus
	seq    int // order in which the reaper collected it, from 1
}

// Seq is the order in which the process ended among those this Supervisor started (1 is the
// first). Valid after Done is closed.
func (p *Proc) Seq() int { return p.seq }

// Done is closed once the process has been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitCode is the code the launcher exits with for this process, like tini: the process's own
// exit code, or 128+N when signal N killed it. Valid after Done is closed.
func (p *Proc) ExitCode() int { return ExitCode(p.status) }

// Describe says how the process ended, e.g. "exited with code 3" or "killed by signal 9 (killed)".
func (p *Proc) Describe() string {
	ws := p.status
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with code %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("ended with status %#x", int(ws))
}

// ExitCode maps a wait status to a shell-style exit code.
func ExitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

// StartError is a program that could not be started; Code is 127 (not found) or 126 (found
// but not executable), as shells and tini report them.
type StartError struct {
	Name string
	Path string
	Code int
	Err  error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%s: cannot start %s: %v", e.Name, e.Path, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Supervisor starts and reaps processes. Create one per launcher run with New, Close it at the end.
type Supervisor struct {
	mu      sync.Mutex
	procs   map[int]*Proc // started, not yet reaped
	groups  map[int]bool  // process groups started; they may outlive their leader
	orphans int           // reaped processes nobody started (reparented to us)
	reaped  int           // started processes reaped so far
	sigchld chan os.Signal
	quit    chan struct{}
	wg      sync.WaitGroup
}

// Option configures a Supervisor.
type Option func(*Supervisor)

// New starts the reaper. When the launcher is not PID 1 it becomes a child subreaper, so
// orphans of its processes are reparented to it rather than to the host's init.
func New(opts ...Option) (*Supervisor, error) {
	s := &Supervisor{
		procs:   map[int]*Proc{},
		groups:  map[int]bool{},
		sigchld: make(chan os.Signal, 1),
		quit:    make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if os.Getpid() != 1 {
		if err := setSubreaper(); err != nil {
			return nil, fmt.Errorf("become child subreaper: %w", err)
		}
	}
	signal.Notify(s.sigchld, syscall.SIGCHLD)
	s.wg.Add(1)
	go s.reapLoop()
	return s, nil
}

// Close stops the reaper. Call it after every process is done.
func (s *Supervisor) Close() {
	signal.Stop(s.sigchld)
	close(s.quit)
	s.wg.Wait()
}

func (s *Supervisor) reapLoop() {
	defer s.wg.Done()
	// Zombies that existed before we started (PID 1 inherits them) are reaped at once.
	s.reap()
	// SIGCHLD signals coalesce; the ticker is a safety net so a lost one delays reaping by at
	// most a second instead of forever.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.sigchld:
		case <-tick.C:
		}
		s.reap()
	}
}

// reap collects every exited child. It holds mu so that Start's fork and registration are
// atomic with respect to it: a child that exits at once is never mistaken for an orphan.
func (s *Supervisor) reap() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		p, ok := s.procs[pid]
		if !ok {
			s.orphans++
			continue
		}
		delete(s.procs, pid)
		s.reaped++
		p.status, p.seq = ws, s.reaped
		close(p.done)
	}
}

// Orphans is how many reparented processes the reaper collected.
func (s *Supervisor) Orphans() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orphans
}

// Start runs spec in a new process group. Standard input is the launcher's; output and error
// too unless spec gives others.
func (s *Supervisor) Start(spec Spec) (*Proc, error) {
	if len(spec.Argv) == 0 {
		return nil, &StartError{Name: spec.Name, Code: 127, Err: errors.New("empty command")}
	}
	path, code, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		return nil, &StartError{Name: spec.Name, Path: spec.Argv[0], Code: code, Err: err}
	}
	sys := &syscall.SysProcAttr{Setpgid: true, Foreground: spec.Foreground, Ctty: 0}
	if spec.SetUser {
		sys.Credential = &syscall.Credential{Uid: spec.UID, Gid: spec.GID, NoSetGroups: false}
	}
	files := []uintptr{0, 1, 2}
	if spec.Stdout != nil {
		files[1] = spec.Stdout.Fd()
	}
	if spec.Stderr != nil {
		files[2] = spec.Stderr.Fd()
	}
	attr := &syscall.ProcAttr{Dir: spec.Dir, Env: spec.Env, Files: files, Sys: sys}
	s.mu.Lock()
	defer s.mu.Unlock()
	pid, err := syscall.ForkExec(path, spec.Argv, attr)
	if err != nil && spec.Foreground && (errors.Is(err, syscall.ENOTTY) || errors.Is(err, syscall.EPERM)) {
		// fd 0 is a terminal but not ours to control (no session with it): run in the
		// background rather than fail.
		sys.Foreground = false
		pid, err = syscall.ForkExec(path, spec.Argv, attr)
	}
	if err != nil {
		return nil, &StartError{Name: spec.Name, Path: path, Code: execErrCode(err), Err: err}
	}
	p := &Proc{Name: spec.Name, Pid: pid, done: make(chan struct{})}
	s.procs[pid] = p
	s.groups[pid] = true
	return p, nil
}

func execErrCode(err error) int {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
		return 127
	}
	return 126
}

// Signal sends sig to every process group still alive, and to strays: processes reparented to
// the launcher from groups of their own (daemons that called setsid), which would otherwise
// outlive a launcher that is not PID 1.
func (s *Supervisor) Signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pgid := range s.groups {
		if err := syscall.Kill(-pgid, sig); errors.Is(err, syscall.ESRCH) {
			delete(s.groups, pgid)
		}
	}
	for _, pid := range s.strays() {
		syscall.Kill(pid, sig)
	}
}

// Alive reports whether any started process, any member of its group, or any stray is still
// running.
func (s *Supervisor) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pgid := range s.groups {
		// EPERM means the group exists but changed user: still alive.
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			delete(s.groups, pgid)
		}
	}
	return len(s.groups) > 0 || len(s.procs) > 0 || len(s.strays()) > 0
}

// strays lists our live children that are neither started by us nor in a group we started.
// Called with mu held.
func (s *Supervisor) strays() []int {
	var out []int
	for _, c := range liveChildren(os.Getpid()) {
		if _, started := s.procs[c.pid]; started || s.groups[c.pgid] {
			continue
		}
		out = append(out, c.pid)
	}
	return out
}

// Stop sends SIGTERM to every group, waits up to grace for all of them to end, then sends
// SIGKILL and waits briefly for the kernel to deliver it. It returns true when SIGKILL was needed.
func (s *Supervisor) Stop(grace time.Duration) (killed bool) {
	return s.StopWith(syscall.SIGTERM, grace)
}

// StopWith is Stop with the first signal chosen by the caller (the one the launcher received).
func (s *Supervisor) StopWith(sig syscall.Signal, grace time.Duration) (killed bool) {
	if !s.Alive() {
		return false
	}
	s.Signal(sig)
	if s.waitGone(grace) {
		return false
	}
	s.Signal(syscall.SIGKILL)
	s.waitGone(5 * time.Second)
	return true
}

// waitGone polls until every group is gone, or d has passed.
func (s *Supervisor) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !s.Alive() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
