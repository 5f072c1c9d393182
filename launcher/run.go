package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/graft-build/graft/healthcheck"
	"github.com/graft-build/graft/launcher/config"
	"github.com/graft-build/graft/launcher/render"
	"github.com/graft-build/graft/launcher/supervise"
	"github.com/graft-build/graft/launcher/tmpclean"
)

// forwarded are the signals passed on to every process group. SIGURG is deliberately absent:
// the Go runtime uses it for preemption and would otherwise flood the children with it.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2}

// stopSignals end the run: forwarded, then SIGKILL after GRAFT_STOP_TIMEOUT.
func isStopSignal(s syscall.Signal) bool { return s == syscall.SIGTERM || s == syscall.SIGINT }

// session is one `run` or `exec`: the supervisor, the signal channel and what was started.
type session struct {
	l       *launcher
	sup     *supervise.Supervisor
	sigs    chan os.Signal
	procs   []*supervise.Proc
	exits   chan *supervise.Proc
	watches []*outputWatch
	fails   chan failMatch // one slot per watch: a relay never blocks on it
}

func (l *launcher) newSession() (*session, error) {
	sup, err := supervise.New()
	if err != nil {
		return nil, err
	}
	s := &session{l: l, sup: sup, sigs: make(chan os.Signal, 16), exits: make(chan *supervise.Proc, 16),
		fails: make(chan failMatch, len(l.cfg.Processes))}
	signal.Notify(s.sigs, forwarded...)
	return s, nil
}

// close ends the session, just before the launcher exits. It waits for relayed output only:
// deregistering the signal handlers and stopping the reaper would cost the exit path of every
// start up to a millisecond (os/signal.Stop spins until the runtime's signal goroutine is idle)
// for nothing, since the process ends next (Main's caller exits with its code).
func (s *session) close() {
	// The last lines a process printed before it ended still reach the container log.
	for _, w := range s.watches {
		w.wait(2 * time.Second)
	}
}

// startProcess starts one [[process]]: with its output relayed and watched when a component
// it serves has fail_on patterns.
func (s *session) startProcess(p config.Process, comps []config.Component) error {
	spec := s.l.processSpec(p)
	pats := failPatterns(p, comps)
	if len(pats) == 0 {
		_, err := s.start(spec)
		return err
	}
	w, err := newOutputWatch(p.Name, pats, s.l.stdout, s.l.stderr, s.fails)
	if err != nil {
		return fmt.Errorf("%s: output pipes: %w", p.Name, err)
	}
	spec.Stdout, spec.Stderr = w.outW, w.errW
	_, err = s.start(spec)
	w.started()
	s.watches = append(s.watches, w)
	return err
}

// stopWatching ends fail_on matching: every component is ready.
func (s *session) stopWatching() {
	for _, w := range s.watches {
		w.stopWatching()
	}
}

// start launches one program and reports its end on s.exits.
func (s *session) start(spec supervise.Spec) (*supervise.Proc, error) {
	p, err := s.sup.Start(spec)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	go func() {
		<-p.Done()
		s.exits <- p
	}()
	return p, nil
}

// stop ends everything: the signal (SIGTERM unless the launcher received another stop
// signal) to every group, SIGKILL after the grace period. It returns the exit code of the
// process that ended first, or fallback when none was started.
func (s *session) stop(sig syscall.Signal, fallback int) int {
	if s.sup.StopWith(sig, s.l.opts.StopTimeout) {
		s.l.logf("processes still running %s after %s; sent SIGKILL", s.l.opts.StopTimeout, sigName(sig))
	}
	var first *supervise.Proc
	for _, p := range s.procs {
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second): // a process in uninterruptible sleep; give up on it
			continue
		}
		if first == nil || p.Seq() < first.Seq() {
			first = p
		}
	}
	if first == nil {
		return fallback
	}
	return first.ExitCode()
}

// run is `graft-launcher run`: the whole start order, then supervision until a process ends
// or a stop signal arrives.
func (l *launcher) run(args []string) int {
	comps, procs, err := l.plan(args)
	if err != nil {
		return l.exitWith(exitUsage, err)
	}
	s, err := l.newSession()
	if err != nil {
		return l.exitWith(exitFailure, err)
	}
	defer s.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	status := healthcheck.NewStatus(healthComponents(comps))
	if l.opts.HealthAddr != "" {
		if err := status.Serve(ctx, l.opts.HealthAddr); err != nil {
			return l.exitWith(exitFailure, err)
		}
	}
	l.removePortFiles()
	defer l.removePortFiles()
	if code, err := l.prepare(s, comps); err != nil {
		return l.exitWith(code, fmt.Errorf("startup failed: %w", err))
	}
	if sig, ok := pendingStop(s.sigs); ok {
		// Stopped while preparing: do not start processes only to stop them.
		l.logf("received %s before the processes started; exiting", sigName(sig))
		return 128 + int(sig)
	}
	for _, p := range procs {
		if err := s.startProcess(p, comps); err != nil {
			return l.failStart(s, err)
		}
	}
	return l.supervise(ctx, s, comps, status)
}

// plan reads everything `run` needs before it touches anything: options, launcher.toml, the
// selected components and their processes, the resolved settings.
func (l *launcher) plan(args []string) ([]config.Component, []config.Process, error) {
	if err := l.setup(); err != nil {
		return nil, nil, err
	}
	comps, err := selectComponents(l.cfg, args, l.opts.Components)
	if err != nil {
		return nil, nil, err
	}
	procs, err := processesFor(l.cfg, comps)
	if err != nil {
		return nil, nil, err
	}
	if err := l.resolve(); err != nil {
		return nil, nil, err
	}
	for _, h := range l.cfg.Hooks {
		if err := l.checkExecSize("hook "+h.Name, h.Run, l.appEnviron(h.Env)); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range procs {
		spec := l.processSpec(p)
		if err := l.checkExecSize("process "+p.Name, spec.Argv, spec.Env); err != nil {
			return nil, nil, err
		}
	}
	if l.cfg.TmpDir != "" {
		if err := tmpclean.Check(l.cfg.TmpDir, protectedPaths(l.opts.ConfigPath, l.cfg)); err != nil {
			return nil, nil, err
		}
	}
	if l.opts.ShowConfig {
		l.writeConfig(l.stderr, comps)
	}
	return comps, procs, nil
}

// failStart handles a process that could not be started: stop the others, exit 127/126.
func (l *launcher) failStart(s *session, err error) int {
	l.logf("startup failed: process %v", err)
	s.stop(syscall.SIGTERM, exitFailure)
	var se *supervise.StartError
	if errors.As(err, &se) {
		return se.Code
	}
	return exitFailure
}

// prepare does everything before the processes start: record the selected components, clean
// tmp, render templates, run hooks.
// A stop signal during hooks ends the run too. The int is the exit code on failure.
func (l *launcher) prepare(s *session, comps []config.Component) (int, error) {
	// First, so an unwritable port_dir fails before anything else happens; `healthcheck`
	// reads this record to know which components to probe.
	if err := healthcheck.WriteSelected(l.cfg.PortDir, componentNames(comps)); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return exitFailure, fmt.Errorf("port_dir %s: uid %d cannot write it (%v): graft build creates port_dir owned by graft.toml's owner; else create it in the image owned by uid %d or set GRAFT_PORT_DIR to a folder that user can write", l.cfg.PortDir, os.Geteuid(), err, os.Geteuid())
		}
		return exitFailure, fmt.Errorf("port_dir: %w", err)
	}
	if l.cfg.TmpDir != "" {
		kept, err := tmpclean.Clean(l.cfg.TmpDir, protectedPaths(l.opts.ConfigPath, l.cfg))
		for _, k := range kept {
			l.logf("tmp_dir: left %s alone: %s", k.Path, k.Reason)
		}
		if err != nil {
			return exitFailure, err
		}
	}
	if err := l.renderTemplates(comps); err != nil {
		return exitFailure, err
	}
	for _, h := range l.cfg.Hooks {
		if code, err := l.runHook(s, h); err != nil {
			return code, err
		}
	}
	return 0, nil
}

func (l *launcher) renderTemplates(comps []config.Component) error {
	data := render.NewData(l.res.Map(), componentNames(comps), l.cfg.Snippets)
	secrets := render.Secrets{Names: l.res.SecretNames(), Values: l.res.Secrets()}
	for _, t := range l.cfg.Templates {
		if err := render.File(t, data, secrets); err != nil {
			return err
		}
	}
	return nil
}

// runHook runs one hook to its end, forwarding signals to it meanwhile.
func (l *launcher) runHook(s *session, h config.Hook) (int, error) {
	p, err := s.sup.Start(supervise.Spec{Name: "hook " + h.Name, Argv: h.Run, Env: l.appEnviron(h.Env), Dir: h.Dir})
	if err != nil {
		var se *supervise.StartError
		if errors.As(err, &se) {
			return se.Code, err
		}
		return exitFailure, err
	}
	for {
		select {
		case <-p.Done():
			if p.ExitCode() != 0 {
				return exitFailure, fmt.Errorf("hook %s %s", h.Name, p.Describe())
			}
			return 0, nil
		case sig := <-s.sigs:
			ss := sig.(syscall.Signal)
			if isStopSignal(ss) {
				s.procs = append(s.procs, p)
				code := s.stop(ss, 128+int(ss))
				return code, fmt.Errorf("received %s while hook %s was running", sigName(ss), h.Name)
			}
			s.sup.Signal(ss)
		}
	}
}

// supervise waits for readiness, writes port files, then waits for a process to end or a stop
// signal. Any process ending stops the rest.
func (l *launcher) supervise(ctx context.Context, s *session, comps []config.Component, status *healthcheck.Status) int {
	type result struct {
		comp config.Component
		err  error
	}
	ready := make(chan result, len(comps))
	rctx, cancel := context.WithTimeout(ctx, l.opts.StartupTimeout)
	defer cancel()
	for _, c := range comps {
		go func() {
			ready <- result{c, healthcheck.WaitReady(rctx, healthcheck.Target{Port: c.Port, Path: c.Health})}
		}()
	}
	pending := map[string]bool{}
	for _, c := range comps {
		pending[c.Name] = true
	}
	for {
		select {
		case r := <-ready:
			if r.err != nil {
				l.logf("startup failed: component %s not ready within %s: %v", r.comp.Name, l.opts.StartupTimeout, r.err)
				s.stop(syscall.SIGTERM, exitFailure)
				return exitFailure // the cause is the timeout, not how the stopped processes ended
			}
			if err := healthcheck.WritePort(l.cfg.PortDir, r.comp.Name, r.comp.Port); err != nil {
				l.logf("startup failed: %v", err)
				s.stop(syscall.SIGTERM, exitFailure)
				return exitFailure
			}
			status.SetReady(r.comp.Name)
			delete(pending, r.comp.Name)
			if len(pending) == 0 {
				cancel()
				s.stopWatching()
				l.logf("ready: %s", strings.Join(componentNames(comps), ", "))
			}
		case m := <-s.fails:
			if len(pending) == 0 {
				continue // matched just before readiness was recorded: the component is up
			}
			status.SetStopping()
			// Redacted whole, then shortened: a cut made first could halve a secret.
			line := l.res.Redact(m.line)
			if m.cut {
				line = l.res.RedactCut(m.line)
			}
			l.logf("startup failed: process %s printed %q, which matches fail_on of component %s", m.proc, shorten(line, 300), m.comp)
			s.stop(syscall.SIGTERM, exitFailure)
			return exitFailure
		case p := <-s.exits:
			status.SetStopping()
			l.removePortFiles()
			if len(pending) > 0 {
				l.logf("startup failed: process %s %s before %s became ready", p.Name, p.Describe(), strings.Join(sortedKeys(pending), ", "))
				s.stop(syscall.SIGTERM, exitFailure)
				return nonZero(p.ExitCode())
			}
			l.logf("process %s %s; stopping the others", p.Name, p.Describe())
			s.stop(syscall.SIGTERM, exitFailure)
			return p.ExitCode()
		case sig := <-s.sigs:
			ss := sig.(syscall.Signal)
			if !isStopSignal(ss) {
				s.sup.Signal(ss)
				continue
			}
			status.SetStopping()
			l.removePortFiles()
			l.logf("received %s; stopping", sigName(ss))
			return s.stop(ss, 128+int(ss))
		}
	}
}

// pendingStop takes any signals already received; it reports a stop signal among them.
// Others are forwarded to nobody: no process is running yet.
func pendingStop(sigs <-chan os.Signal) (syscall.Signal, bool) {
	for {
		select {
		case sig := <-sigs:
			if ss := sig.(syscall.Signal); isStopSignal(ss) {
				return ss, true
			}
		default:
			return 0, false
		}
	}
}

// nonZero turns a clean exit during startup into a failure code: the orchestrator must see
// that the container did not start.
func nonZero(code int) int {
	if code == 0 {
		return exitFailure
	}
	return code
}

// processesFor returns the processes to start for comps, in declaration order: those serving
// a selected component, and those serving no component at all (helpers that always run).
func processesFor(cfg *config.Config, comps []config.Component) ([]config.Process, error) {
	selected := map[string]bool{}
	for _, c := range comps {
		selected[c.Name] = true
	}
	served := map[string]bool{}
	var out []config.Process
	for _, p := range cfg.Processes {
		use := len(p.Components) == 0
		for _, c := range p.Components {
			if selected[c] {
				use, served[c] = true, true
			}
		}
		if use {
			out = append(out, p)
		}
	}
	for _, c := range comps {
		if !served[c.Name] {
			return nil, fmt.Errorf("component %s is served by no [[process]]; add it to a process's components", c.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to run: launcher.toml declares no [[process]]")
	}
	return out, nil
}

func (l *launcher) processSpec(p config.Process) supervise.Spec {
	spec := supervise.Spec{Name: p.Name, Argv: p.Command, Env: l.appEnviron(p.Env), Dir: p.Dir}
	if p.User != "" {
		spec.UID, spec.GID, _ = config.ParseUser(p.User) // validated by config.Parse
		spec.SetUser = true
	}
	return spec
}

// removePortFiles removes every declared component's port file and the record of selected
// components, so a stopped (or restarting) container never looks ready.
func (l *launcher) removePortFiles() {
	for _, c := range l.cfg.Components {
		if err := healthcheck.RemovePort(l.cfg.PortDir, c.Name); err != nil {
			l.logf("%v", err)
		}
	}
	healthcheck.RemoveSelected(l.cfg.PortDir)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP",
	syscall.SIGQUIT: "SIGQUIT", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGKILL: "SIGKILL",
}

// sigName gives the conventional name ("SIGTERM") rather than Go's description ("terminated").
func sigName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}
