package launcher

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graft-build/graft/launcher/config"
)

// maxWatchedLine bounds the part of one output line kept for matching; a longer line is
// matched on its first maxWatchedLine bytes (and relayed whole all the same).
const maxWatchedLine = 16 << 10

// failPattern is one fail_on expression of a component.
type failPattern struct {
	comp string
	re   *regexp.Regexp
}

// failMatch is a line that matched a fail_on pattern while its component was starting: its
// first maxWatchedLine bytes, not yet redacted (the watch knows no secrets), cut when longer.
type failMatch struct {
	proc, comp, line string
	cut              bool
}

// failPatterns are the fail_on patterns of the selected components that p serves.
func failPatterns(p config.Process, comps []config.Component) []failPattern {
	serves := map[string]bool{}
	for _, c := range p.Components {
		serves[c] = true
	}
	var out []failPattern
	for _, c := range comps {
		if !serves[c.Name] {
			continue
		}
		for _, pat := range c.FailOn {
			out = append(out, failPattern{comp: c.Name, re: regexp.MustCompile(pat)}) // validated by config.Parse
		}
	}
	return out
}

// outputWatch relays a process's standard output and error to the launcher's own, byte for
// byte, through pipes, and while watching matches each line against fail_on patterns. Only
// processes serving a component with fail_on get one: every other process writes to the
// launcher's descriptors directly.
type outputWatch struct {
	proc     string
	patterns []failPattern
	matched  chan<- failMatch
	watching atomic.Bool
	once     sync.Once
	outW     *os.File // write ends, given to the process
	errW     *os.File
	relays   sync.WaitGroup
}

func newOutputWatch(proc string, patterns []failPattern, stdout, stderr io.Writer, matched chan<- failMatch) (*outputWatch, error) {
	w := &outputWatch{proc: proc, patterns: patterns, matched: matched}
	w.watching.Store(true)
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	w.outW, w.errW = outW, errW
	w.relays.Add(2)
	go w.relay(outR, stdout)
	go w.relay(errR, stderr)
	return w, nil
}

// started closes the launcher's copies of the write ends, so the relays see end of file when
// the process (and whatever inherited its output) is gone.
func (w *outputWatch) started() {
	w.outW.Close()
	w.errW.Close()
}

// stopWatching ends matching; output is still relayed.
func (w *outputWatch) stopWatching() { w.watching.Store(false) }

// wait waits for both relays to reach end of file, at most d (a daemon the process left
// behind may hold its output open).
func (w *outputWatch) wait(d time.Duration) {
	done := make(chan struct{})
	go func() {
		w.relays.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (w *outputWatch) relay(r *os.File, dst io.Writer) {
	defer w.relays.Done()
	defer r.Close()
	buf := make([]byte, 32<<10)
	var line watchedLine
	for {
		n, err := r.Read(buf)
		if n > 0 {
			dst.Write(buf[:n])
			if w.watching.Load() {
				w.scan(&line, buf[:n])
			}
		}
		if err != nil {
			if len(line.b) > 0 && w.watching.Load() {
				w.match(line)
			}
			return
		}
	}
}

// watchedLine is the part of the current output line kept for matching: its first
// maxWatchedLine bytes, and whether more were dropped.
type watchedLine struct {
	b   []byte
	cut bool
}

func (l *watchedLine) add(p []byte) {
	room := maxWatchedLine - len(l.b)
	if len(p) > room {
		p, l.cut = p[:room], true
	}
	l.b = append(l.b, p...)
}

// scan splits chunk into lines, matching each complete one; line keeps the incomplete rest.
func (w *outputWatch) scan(line *watchedLine, chunk []byte) {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			line.add(chunk)
			return
		}
		line.add(chunk[:i])
		w.match(*line)
		line.b, line.cut = line.b[:0], false
		chunk = chunk[i+1:]
	}
}

func (w *outputWatch) match(line watchedLine) {
	for _, p := range w.patterns {
		if p.re.Match(line.b) {
			w.once.Do(func() {
				w.matched <- failMatch{proc: w.proc, comp: p.comp, line: string(bytes.TrimRight(line.b, "\r")), cut: line.cut}
			})
			return
		}
	}
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut. It is applied after
// redaction, so it never leaves part of a secret.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
