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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
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
		return 0
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
	root.AddCommand(newVersionCmd(g), newLockCmd(g), newOutdatedCmd(g), newBuildCmd(g), newInspectCmd(g),
		newLoginCmd(g), newLogoutCmd(g))
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes positional-argument errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	orig := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error { return usererr.Wrap(orig(cmd, args)) }
}
