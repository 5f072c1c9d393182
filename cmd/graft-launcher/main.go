// Command graft-launcher is the container entrypoint graft puts in every image (PID 1): see
// package launcher and README.md's "Launcher" section.
package main

import (
	"os"
	"runtime"

	"github.com/graft-build/graft/launcher"
)

func main() {
	// A supervisor needs no parallelism: one P means fewer runtime threads, less memory and a
	// cheaper start. GOMAXPROCS in the environment still wins, for whoever wants otherwise.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	os.Exit(launcher.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
