// Command prepare builds and caches the standard tools the interoperability tests run (see
// package internal/tooltest), so that a fresh CI machine pays for the builds before `go test`
// starts its timeout, and checks that skopeo and umoci are on PATH.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/graft-build/graft/internal/tooltest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	failed := false
	for _, tool := range tooltest.All {
		start := time.Now()
		bin, err := tool.Ensure(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "prepare %s: %v\n", tool, err)
			failed = true
			continue
		}
		fmt.Printf("%s ready: %s (%s)\n", tool, bin, time.Since(start).Round(time.Second))
	}
	if failed {
		os.Exit(1)
	}
}
