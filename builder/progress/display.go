package progress

import (
	"io"
	"os"

	"golang.org/x/term"
)

// Display picks graft's display for --progress mode (auto, plain, tty or quiet) on w: the
// writer a StepRunner's output goes to, the reporter of graft's own events, and what ends the
// display (safe to call twice). auto is tty where w is a terminal, else plain. A build that
// runs BuildKit steps keeps plain lines on a terminal: BuildKit's own tty display then owns
// it, and two displays redrawing one screen would garble both.
func Display(w io.Writer, mode string, buildkitSteps bool) (io.Writer, Reporter, func()) {
	if mode == "auto" {
		mode = "plain"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "tty"
		}
	}
	switch {
	case mode == "quiet":
		return io.Discard, Discard, func() {}
	case mode == "tty" && !buildkitSteps:
		t := NewTTY(w)
		return w, t, func() { t.Close() }
	default:
		return w, NewPlain(w), func() {}
	}
}
