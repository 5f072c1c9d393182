// Command demo-app is the stand-in for ArchivesSpace that graft's demo and end-to-end tests put
// in a container:
//
//	demo-app serve [--config FILE] [COMPONENT...]   components: backend frontend public indexer
//	demo-app version
//
// Without components on the command line it serves the config's `components` (graft-launcher
// renders the selected ones there), else all four. Exit codes: 0 stopped cleanly (SIGTERM),
// 1 failed while running or at startup, 2 bad config or usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/graft-build/graft/plugins-example/demo/app"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: demo-app serve [--config FILE] [COMPONENT...] | demo-app version")
		return 2
	}
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "demo-app (graft plugins-example)")
		return 0
	case "serve":
		return serve(args[1:], stderr)
	default:
		fmt.Fprintf(stderr, "demo-app: unknown command %q; use serve or version\n", args[0])
		return 2
	}
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("DEMO_CONFIG")
	if def == "" {
		def = "/srv/demo/config/demo.conf"
	}
	configPath := fs.String("config", def, "config file (also DEMO_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := log.New(stderr, "demo-app: ", 0)
	cfg, err := app.LoadConfig(*configPath)
	if err != nil {
		logger.Print(err)
		var ce *app.ConfigError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	components, err := cfg.SelectComponents(fs.Args())
	if err != nil {
		logger.Print(err)
		return 2
	}
	a, err := app.New(cfg, components, logger)
	if err != nil {
		logger.Print(err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := a.Run(ctx); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}
