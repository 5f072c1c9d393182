package progress

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a terminal stand-in the ticker goroutine and the test may touch at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastFrame is what a terminal shows at the end: the text after the last cursor-up, cleared lines.
func lastFrame(out string) string {
	if loc := cursorUp.FindAllStringIndex(out, -1); len(loc) > 0 {
		out = out[loc[len(loc)-1][1]:]
	}
	return strings.ReplaceAll(out, "\r\x1b[2K", "")
}

var cursorUp = regexp.MustCompile(`\x1b\[[0-9]+A`)

func TestTTYRedrawsInPlaceAndEndsWithSummary(t *testing.T) {
	var buf syncBuffer
	tty := NewTTY(&buf, WithInterval(0)) // every event redraws, so the test sees each frame
	tty.Event(Event{Subject: "alpha", Phase: Waiting})
	tty.Event(Event{Subject: "beta", Phase: Waiting})
	tty.Event(Event{Subject: "graft-launcher", Phase: Waiting})
	tty.Event(Event{Subject: "alpha", Phase: Fetching, Detail: "0123456789ab"})
	tty.Event(Event{Subject: "alpha", Phase: Layered, Detail: "linux/amd64 aaaaaaaaaaaa (1.0 KiB)"})
	tty.Event(Event{Subject: "beta", Phase: Layered, Detail: "linux/amd64 bbbbbbbbbbbb (2.0 KiB)"})
	tty.Event(Event{Subject: "alpha", Phase: Done})
	tty.Event(Event{Subject: "beta", Phase: Done})
	tty.Event(Event{Subject: "graft-launcher", Phase: Done, Detail: "linux/amd64 v1"})
	if err := tty.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "\x1b[3A") {
		t.Errorf("no redraw moves the cursor up over the 3 lines:\n%q", out)
	}
	if !strings.Contains(out, "\r\x1b[2K") {
		t.Errorf("lines are not cleared before being redrawn:\n%q", out)
	}
	final := lastFrame(out)
	lines := strings.Split(strings.TrimSuffix(final, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("final summary has %d lines, want 3 (alpha, beta, launcher):\n%s", len(lines), final)
	}
	for i, want := range []string{"alpha", "beta", "graft-launcher"} {
		if !strings.HasPrefix(lines[i], want+" ") || !strings.Contains(lines[i], "done") {
			t.Errorf("summary line %d = %q, want %s done", i, lines[i], want)
		}
	}
	// Done keeps the layer's digest on the line: the summary says what each plugin became.
	for i, digest := range []string{"aaaaaaaaaaaa (1.0 KiB)", "bbbbbbbbbbbb (2.0 KiB)"} {
		if !strings.Contains(lines[i], digest) {
			t.Errorf("summary line %q lacks its digest %s", lines[i], digest)
		}
	}
}

func TestTTYRateLimitsRedraws(t *testing.T) {
	var buf syncBuffer
	tty := NewTTY(&buf, WithInterval(time.Hour))
	for i := range 100 {
		tty.Event(Event{Subject: fmt.Sprint("p", i%5), Phase: Fetching})
	}
	tty.Close()
	// One draw for the first event, none within the hour, and the final one at Close.
	if n := strings.Count(buf.String(), "\x1b[2K") / 5; n > 2 {
		t.Errorf("%d frames drawn for 100 events within one interval, want at most 2:\n%q", n, buf.String())
	}
	if !strings.Contains(lastFrame(buf.String()), "p4") {
		t.Errorf("final frame lacks p4:\n%q", buf.String())
	}
}

func TestTTYTickerRedrawsWhileIdle(t *testing.T) {
	var buf syncBuffer
	tty := NewTTY(&buf, WithInterval(10*time.Millisecond))
	tty.Event(Event{Subject: "alpha", Phase: Fetching})
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(buf.String(), "\x1b[1A") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tty.Close()
	if strings.Count(buf.String(), "\x1b[1A") < 2 {
		t.Errorf("no redraws while nothing reported (elapsed time would freeze):\n%q", buf.String())
	}
	tty.Event(Event{Subject: "late", Phase: Done})
	if strings.Contains(buf.String(), "late") {
		t.Error("an event after Close was drawn below the summary")
	}
}

func TestPlainPrintsOnlyPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := NewPlain(&buf)
	p.Event(Event{Subject: "alpha", Phase: Fetching})
	p.Event(Event{Subject: "alpha", Phase: Fetched, Plain: "fetch  alpha 0123456789ab (cached, 3 files)"})
	p.Event(Event{Subject: "alpha", Phase: Done})
	if got, want := buf.String(), "fetch  alpha 0123456789ab (cached, 3 files)\n"; got != want {
		t.Errorf("plain output %q, want %q", got, want)
	}
}

// recorder keeps events in order, for Lines.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Event(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func TestLinesTurnsEachLineIntoAnEvent(t *testing.T) {
	var r recorder
	w := Lines(&r, "output x", Pushing)
	io.WriteString(w, "push   one\npush   tw")
	io.WriteString(w, "o\nlast without newline")
	w.Close()
	var got []string
	for _, e := range r.events {
		if e.Subject != "output x" || e.Phase != Pushing || e.Detail != strings.TrimSpace(e.Plain) {
			t.Errorf("event %+v", e)
		}
		got = append(got, e.Plain)
	}
	if want := []string{"push   one", "push   two", "last without newline"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", got, want)
	}
}
