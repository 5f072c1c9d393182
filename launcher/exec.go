package launcher

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/graft-build/graft/launcher/supervise"
)

// exec is `graft-launcher exec -- CMD [ARG...]`: resolve settings and render templates as
// `run` does, then run CMD and exit with its code. It neither cleans tmp nor runs hooks nor
// writes port files, because it is also used beside a running app (`docker exec`), whose tmp
// and readiness it must not disturb.
func (l *launcher) exec(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return l.exitWith(exitUsage, errors.New("exec needs a command: graft-launcher exec -- CMD [ARG...]"))
	}
	if err := l.setup(); err != nil {
		return l.exitWith(exitUsage, err)
	}
	comps, err := selectComponents(l.cfg, nil, l.opts.Components)
	if err != nil {
		return l.exitWith(exitUsage, err)
	}
	if err := l.resolve(); err != nil {
		return l.exitWith(exitUsage, err)
	}
	env := l.appEnviron(nil)
	if err := l.checkExecSize("exec "+args[0], args, env); err != nil {
		return l.exitWith(exitUsage, err)
	}
	if l.opts.ShowConfig {
		l.writeConfig(l.stderr, comps)
	}
	if err := l.renderTemplates(comps); err != nil {
		return l.exitWith(exitFailure, err)
	}
	s, err := l.newSession()
	if err != nil {
		return l.exitWith(exitFailure, err)
	}
	defer s.close()
	// An interactive command (docker run -it IMAGE exec -- bash) needs the terminal.
	fg := supervise.IsTerminal(0)
	p, err := s.start(supervise.Spec{Name: args[0], Argv: args, Env: env, Foreground: fg})
	if err != nil {
		var se *supervise.StartError
		if errors.As(err, &se) {
			return l.exitWith(se.Code, fmt.Errorf("exec %w", err))
		}
		return l.exitWith(exitFailure, err)
	}
	for {
		select {
		case <-s.exits:
			// The command's group may hold children it left behind; end them too.
			s.sup.Stop(l.opts.StopTimeout)
			return p.ExitCode()
		case sig := <-s.sigs:
			ss := sig.(syscall.Signal)
			if isStopSignal(ss) {
				return s.stop(ss, 128+int(ss))
			}
			s.sup.Signal(ss)
		}
	}
}
