package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/internal/version"
)

func newVersionCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print graft's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(g.stdout, "graft %s %s/%s\n", version.String(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
