// Command graft locks plugin definitions to commits and builds images from the lock.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/internal/usererr"
)

// Exit codes (CONTRACT.md): 0 success, 1 a check or the work failed, 2 bad input or usage.
const (
	exitFailed   = 1
	exitBadInput = 2
)

// checkFailed is returned by commands whose check found a problem they already printed.
var errCheckFailed = errors.New("check failed")

// signalled is the cause of a context cancelled by a signal.
type signalled struct{ sig syscall.Signal }

func (s signalled) Error() string {
	switch s.sig {
	case syscall.SIGINT:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "interrupted (SIGTERM)"
	}
	return "interrupted (" + s.sig.String() + ")"
}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s, _ := (<-sigs).(syscall.Signal)
		// The first signal stops the work cleanly (temporary files removed, outputs whole);
		// a second one gets the default action and ends graft at once.
		signal.Stop(sigs)
		cancel(signalled{s})
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel(nil)
	os.Exit(code)
}

// run executes the CLI and maps errors to exit codes; tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, embeddedSet())
}

// runWith is run with the given embedded launcher set (tests give an empty one, to stand for
// a `go install`ed graft).
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, embedded fs.FS) int {
	root := newRootCmd(stdout, stderr, embedded)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0 // the work was done (an output committed) before any interrupt
	}
	if ctx.Err() != nil {
		// Interrupted: whatever the error, it is the interrupt's doing; outputs not committed
		// yet were left as they were. 128+N as shells report a signal, 130 for SIGINT.
		var s signalled
		if !errors.As(context.Cause(ctx), &s) {
			s = signalled{syscall.SIGINT}
		}
		fmt.Fprintf(stderr, "graft: %v; outputs not yet written were left untouched\n", s)
		return 128 + int(s.sig)
	}
	if !errors.Is(err, errCheckFailed) {
		fmt.Fprintf(stderr, "graft: %v\n", err)
	}
	// Cobra reports an unknown subcommand as a plain error; it is a usage error all the same.
	if usererr.Is(err) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitBadInput
	}
	return exitFailed
}

// globalOpts are flags every command shares.
type globalOpts struct {
	dir      string
	stdout   io.Writer
	stderr   io.Writer
	embedded fs.FS // graft's embedded launchers
}

func newRootCmd(stdout, stderr io.Writer, embedded fs.FS) *cobra.Command {
	g := &globalOpts{stdout: stdout, stderr: stderr, embedded: embedded}
	root := &cobra.Command{
		Use:           "graft",
		Short:         "Lock application plugins to commits and build reproducible images from the lock",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Flag errors are usage errors: exit 2, like every other bad input.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usererr.Wrap(err) })
	root.PersistentFlags().StringVarP(&g.dir, "dir", "C", ".", "the site repository")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return checkLimits(cmd) }
	root.AddCommand(newVersionCmd(g), newLockCmd(g), newOutdatedCmd(g), newBuildCmd(g), newInspectCmd(g),
		newSBOMCmd(g), newVerifyCmd(g), newLoginCmd(g), newLogoutCmd(g), newDoctorCmd(g), newCheckDeployCmd(g))
	organizeHelp(root)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// checkLimits refuses --jobs below 1 and a --timeout that is not positive (exit 2): left
// alone, 0 jobs would mean the default and a negative timeout would fail every repository.
func checkLimits(cmd *cobra.Command) error {
	f := cmd.Flags()
	if fl := f.Lookup("jobs"); fl != nil && fl.Changed {
		if n, err := f.GetInt("jobs"); err == nil && n < 1 {
			return usererr.New("--jobs %d: give a number of at least 1 (%s)", n, fl.Usage)
		}
	}
	if fl := f.Lookup("timeout"); fl != nil && fl.Changed {
		if d, err := f.GetDuration("timeout"); err == nil && d <= 0 {
			return usererr.New("--timeout %s: give a positive duration such as 30s or 2m (%s)", fl.Value, fl.Usage)
		}
	}
	return nil
}

// wrapArgs makes positional-argument errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	orig := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error { return usererr.Wrap(orig(cmd, args)) }
}
