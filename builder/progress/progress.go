// Package progress shows what graft build is doing: plain lines (for logs and pipes) or a
// live terminal display with one line per plugin, launcher and output, redrawn in place.
package progress

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Phase is where one subject (a plugin, the launcher, an output) stands.
type Phase string

// The phases, in the order a subject goes through them.
const (
	Waiting  Phase = "waiting"
	Fetching Phase = "fetching"
	Fetched  Phase = "fetched"
	Layering Phase = "layering"
	Layered  Phase = "layer"
	Steps    Phase = "build steps"
	Pushing  Phase = "pushing"
	Done     Phase = "done"
)

// Event says subject entered phase. Detail is shown beside the phase on a terminal
// ("linux/amd64 3f2a9c1b0d4e (1.2 MiB)"); Plain is the whole line plain mode prints, empty
// for events plain mode has never shown (so its output stays what scripts already read).
type Event struct {
	Subject string
	Phase   Phase
	Detail  string
	Plain   string
}

// Reporter receives events from concurrent goroutines.
type Reporter interface {
	Event(Event)
}

// Discard drops every event (--progress quiet).
var Discard Reporter = discard{}

type discard struct{}

func (discard) Event(Event) {}

// Plainf is an event plain mode prints as format's line; on a terminal, subject's line
// shows phase and detail.
func Plainf(subject string, phase Phase, detail, format string, args ...any) Event {
	return Event{Subject: subject, Phase: phase, Detail: detail, Plain: fmt.Sprintf(format, args...)}
}

// Plain writes each event's Plain line, as graft build always has.
type Plain struct {
	mu sync.Mutex // events come from parallel fetches and layers; lines must not interleave
	w  io.Writer
}

// NewPlain writes plain lines to w.
func NewPlain(w io.Writer) *Plain { return &Plain{w: w} }

// Event prints e's plain line, if it has one.
func (p *Plain) Event(e Event) {
	if e.Plain == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, e.Plain)
}

// Lines is an io.Writer for code that writes progress lines (publishers): each line becomes
// an event of subject in phase, its text both the detail and the plain line. Close flushes
// a last line without a newline.
func Lines(r Reporter, subject string, phase Phase) io.WriteCloser {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			r.Event(Event{Subject: subject, Phase: phase, Detail: strings.TrimSpace(line), Plain: line})
		}
		io.Copy(io.Discard, pr) // a line too long for the scanner must not block the writer
	}()
	return &lineWriter{pw: pw, done: done}
}

type lineWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (l *lineWriter) Write(b []byte) (int, error) { return l.pw.Write(b) }

// Close waits until every line written has reached the reporter, so they stay in order with
// the events that follow.
func (l *lineWriter) Close() error {
	err := l.pw.Close()
	<-l.done
	return err
}
