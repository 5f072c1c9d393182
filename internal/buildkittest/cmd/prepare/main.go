// Command prepare builds and caches the buildkitd (and buildctl) the tests run (see package buildkittest), so
// that a fresh CI machine pays for the build before `go test` starts its timeout.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/graft-build/graft/internal/buildkittest"
)

func main() {
	start := time.Now()
	for _, get := range []func(context.Context) (string, error){buildkittest.Binary, buildkittest.Buildctl} {
		bin, err := get(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, "prepare BuildKit:", err)
			os.Exit(1)
		}
		fmt.Printf("%s %s ready (%s)\n", bin, buildkittest.Version, time.Since(start).Round(time.Second))
	}
}
