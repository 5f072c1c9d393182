package progress

import (
	"bytes"
	"io"
	"testing"
)

// --progress picks the display: auto is plain off a terminal, quiet drops everything, tty
// draws in place unless BuildKit's own display owns the terminal.
func TestDisplayFollowsMode(t *testing.T) {
	var buf bytes.Buffer
	for _, c := range []struct {
		mode  string
		steps bool
		want  string
	}{
		{"auto", false, "*progress.Plain"}, {"plain", false, "*progress.Plain"}, {"quiet", false, "progress.discard"},
		{"tty", false, "*progress.TTY"}, {"tty", true, "*progress.Plain"},
	} {
		w, rep, done := Display(&buf, c.mode, c.steps)
		if got := typeName(rep); got != c.want {
			t.Errorf("%s (steps %v): %s, want %s", c.mode, c.steps, got, c.want)
		}
		if (c.mode == "quiet") != (w == io.Discard) {
			t.Errorf("%s: step output to %T", c.mode, w)
		}
		done()
		done() // safe twice
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *Plain:
		return "*progress.Plain"
	case *TTY:
		return "*progress.TTY"
	case discard:
		return "progress.discard"
	}
	return "?"
}
