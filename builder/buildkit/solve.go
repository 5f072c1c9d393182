package buildkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gatewaypb "github.com/moby/buildkit/frontend/gateway/pb"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/graft-build/graft/builder/contract"
)

// tailLines is how many lines of a failing step's output its error shows.
const tailLines = 15

// solve runs def with BuildKit's progress display beside it, and turns a failing build step
// into an error naming the step, its exit code and the end of its output.
func (e *Engine) solve(ctx context.Context, def *llb.Definition, opt client.SolveOpt,
	req contract.StepRequest, names map[string]int, secrets map[string][]byte) error {
	disp, shown, err := e.display(req)
	if err != nil {
		return err
	}
	if shown {
		// Each solve's display numbers its steps from #1: two at once on one terminal would
		// interleave. With a display, plugins' steps run one plugin at a time.
		e.showing.Lock()
		defer e.showing.Unlock()
	}
	rec := &recorder{vertices: map[digest.Digest]*client.Vertex{}, logs: map[digest.Digest][]byte{},
		stderr: map[digest.Digest][]byte{}, redact: redactor(secrets)}
	statusCh := make(chan *client.SolveStatus)
	displayCh := make(chan *client.SolveStatus)
	eg, egCtx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		_, err := e.c.Solve(egCtx, def, opt, statusCh) // closes statusCh when done
		return err
	})
	eg.Go(func() error {
		defer close(displayCh)
		for s := range statusCh {
			displayCh <- rec.add(s)
		}
		return nil
	})
	eg.Go(func() error {
		// Not egCtx: the display must drain and print the failure after Solve fails.
		_, err := disp.UpdateFrom(context.WithoutCancel(ctx), displayCh)
		return err
	})
	if err := eg.Wait(); err != nil {
		return rec.explain(err, e.addr, req, names)
	}
	return nil
}

// display is the progress display: WithProgress's, else plain lines to the request's writer,
// else nothing.
// shown reports whether it prints anything.
func (e *Engine) display(req contract.StepRequest) (d progressui.Display, shown bool, err error) {
	mode, w := e.o.progressMode, e.o.progressOut
	if mode == "" {
		mode, w = progressui.QuietMode, req.Progress
		if w != nil {
			mode = progressui.PlainMode
		}
	}
	if w == nil {
		w = os.Stderr
	}
	d, err = progressui.NewDisplay(w, mode)
	if err != nil {
		return d, false, fmt.Errorf("progress %s: %w", mode, err)
	}
	return d, mode != progressui.QuietMode, nil
}

// recorder keeps what a failing step's error needs: vertex names and errors, and the end of each
// vertex's output (with secret values redacted, here and in what the display shows).
type recorder struct {
	mu       sync.Mutex
	vertices map[digest.Digest]*client.Vertex
	logs     map[digest.Digest][]byte // stdout and stderr as they arrived
	stderr   map[digest.Digest][]byte // stderr alone: the pipes are read separately, so an error
	// message printed last can arrive before the end of stdout
	redact func([]byte) []byte
}

// maxLog bounds the output kept per vertex.
const maxLog = 16 << 10

func (r *recorder) add(s *client.SolveStatus) *client.SolveStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range s.Vertexes {
		r.vertices[v.Digest] = v
	}
	for i, l := range s.Logs {
		data := r.redact(l.Data)
		if !bytes.Equal(data, l.Data) {
			cp := *l
			cp.Data = data
			s.Logs[i] = &cp
		}
		r.logs[l.Vertex] = keepEnd(append(r.logs[l.Vertex], data...))
		if l.Stream == 2 {
			r.stderr[l.Vertex] = keepEnd(append(r.stderr[l.Vertex], data...))
		}
	}
	return s
}

// explain names the failing build step when one failed; other failures keep BuildKit's error.
func (r *recorder) explain(err error, addr string, req contract.StepRequest, names map[string]int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for dg, v := range r.vertices {
		i, isStep := names[v.Name]
		if v.Error == "" || !isStep {
			continue
		}
		cmd := req.Steps.Run[i]
		msg := fmt.Sprintf("build step %d/%d %q failed with exit code %s", i+1, len(req.Steps.Run), cmd, exitCode(err, v.Error))
		out, errOut := lastLines(r.logs[dg], tailLines), lastLines(r.stderr[dg], tailLines/3)
		switch {
		case out == "":
			msg += " (no output)"
		case strings.Contains(out, errOut):
			msg += "; last lines of its output:\n" + out
		default:
			msg += "; last lines of its output:\n" + out + "\n  and of its error output:\n" + errOut
		}
		if strings.Contains(out, `exec: "`+shell+`"`) {
			msg += "\n(build steps run as " + shell + " -c CMD: the base image needs " + shell + ")"
		}
		return errors.New(msg)
	}
	return fmt.Errorf("BuildKit at %s: %s", addr, strings.TrimSpace(string(r.redact([]byte(err.Error())))))
}

func keepEnd(b []byte) []byte {
	if len(b) > maxLog {
		return b[len(b)-maxLog:]
	}
	return b
}

var exitCodeText = regexp.MustCompile(`exit code: (\d+)`)

func exitCode(err error, vertexErr string) string {
	var ee *gatewaypb.ExitError
	if errors.As(err, &ee) {
		return strconv.Itoa(int(ee.ExitCode))
	}
	if m := exitCodeText.FindStringSubmatch(vertexErr); m != nil {
		return m[1]
	}
	return "unknown"
}

func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = "    " + strings.TrimRight(l, "\r")
	}
	return strings.Join(lines, "\n")
}

// redactor replaces secret values in step output. Values shorter than 4 bytes are left alone:
// hiding every "a" would make output unreadable and protect nothing.
func redactor(secrets map[string][]byte) func([]byte) []byte {
	var vals [][]byte
	for _, v := range secrets {
		v = bytes.TrimRight(v, "\r\n")
		if len(v) >= 4 {
			vals = append(vals, v)
		}
	}
	return func(b []byte) []byte {
		for _, v := range vals {
			if bytes.Contains(b, v) {
				b = bytes.ReplaceAll(b, v, []byte("[redacted]"))
			}
		}
		return b
	}
}
