package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is how often the terminal display redraws at most: often enough to see
// time pass, rarely enough not to flood a slow terminal (BuildKit's tty mode does the same).
const DefaultInterval = 100 * time.Millisecond

// TTY draws one line per subject, in the order subjects first appeared, and redraws them in
// place (cursor up, clear line) while the build runs. Close draws the final state, which
// stays on screen as the summary.
type TTY struct {
	mu       sync.Mutex
	w        io.Writer
	interval time.Duration
	now      func() time.Time
	lines    []*line
	bySubj   map[string]*line
	drawn    int // lines on screen from the last draw, to move the cursor back over
	lastDraw time.Time
	stop     chan struct{}
	stopped  sync.WaitGroup
	closed   bool
}

type line struct {
	subject string
	phase   Phase
	detail  string
	start   time.Time // first event past waiting; zero while waiting
	end     time.Time // when done
}

// maxSubjectWidth keeps one long subject (an output's path) from pushing every line's phase
// off to the right; a longer subject just overflows its column.
const maxSubjectWidth = 24

// TTYOption configures NewTTY.
type TTYOption func(*TTY)

// WithInterval sets the least time between redraws (default DefaultInterval).
func WithInterval(d time.Duration) TTYOption { return func(t *TTY) { t.interval = d } }

// NewTTY draws to w, which should be a terminal, and redraws on its own so elapsed times
// move while nothing reports. Call Close when the build ends.
func NewTTY(w io.Writer, opts ...TTYOption) *TTY {
	t := &TTY{w: w, interval: DefaultInterval, now: time.Now, bySubj: map[string]*line{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(t)
	}
	t.stopped.Add(1)
	go t.tick()
	return t
}

func (t *TTY) tick() {
	defer t.stopped.Done()
	period := t.interval
	if period <= 0 {
		period = DefaultInterval // an interval of 0 redraws on every event; the clock still ticks
	}
	tk := time.NewTicker(period)
	defer tk.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tk.C:
			t.mu.Lock()
			if len(t.lines) > 0 {
				t.draw()
			}
			t.mu.Unlock()
		}
	}
}

// Event updates e.Subject's line and redraws if the last draw is older than the interval.
func (t *TTY) Event(e Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	l := t.bySubj[e.Subject]
	if l == nil {
		l = &line{subject: e.Subject}
		t.bySubj[e.Subject] = l
		t.lines = append(t.lines, l)
	}
	now := t.now()
	if e.Phase != Waiting && l.start.IsZero() {
		l.start = now
	}
	if e.Phase == Done {
		l.end = now
	} else {
		l.end = time.Time{}
	}
	l.phase = e.Phase
	if e.Detail != "" || e.Phase != Done {
		l.detail = e.Detail // a bare Done keeps what the subject became (its layer's digest)
	}
	if now.Sub(t.lastDraw) >= t.interval {
		t.draw()
	}
}

// Close stops redrawing and draws the final summary. Events after Close are dropped.
func (t *TTY) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.stop)
	t.mu.Unlock()
	t.stopped.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) > 0 {
		t.draw()
	}
	return nil
}

// draw moves the cursor up over the previous frame and writes every line again, each one
// cleared first so a shorter line leaves nothing of the longer one behind. Called with mu held.
func (t *TTY) draw() {
	now := t.now()
	width := 0
	for _, l := range t.lines {
		width = max(width, len(l.subject))
	}
	width = min(width, maxSubjectWidth)
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", t.drawn)
	}
	for _, l := range t.lines {
		fmt.Fprintf(&b, "\r\x1b[2K%-*s  %s\n", width, l.subject, l.text(now))
	}
	io.WriteString(t.w, b.String())
	t.drawn = len(t.lines)
	t.lastDraw = now
}

func (l *line) text(now time.Time) string {
	s := string(l.phase)
	if l.detail != "" {
		s += " " + l.detail
	}
	if l.start.IsZero() || l.start.Equal(l.end) {
		return s // not started, or done at once: no time worth showing
	}
	end := now
	if !l.end.IsZero() {
		end = l.end
	}
	return fmt.Sprintf("%s  %.1fs", s, end.Sub(l.start).Seconds())
}
