// Command bench measures graft side by side with what sites run today (git ls-remote loops,
// docker build, crane append, tar | pigz, tini, curl), in one run on one machine, and prints
// the ratios: timings on shared machines drift, ratios measured in one run hold.
//
// Everything is set up offline in a temporary folder: plugin repositories served by a real git
// smart-HTTP server on 127.0.0.1, a base image, and a registry on 127.0.0.1.
//
//	go run ./bench [-runs N] [-plugins N] [-lock-plugins N] [-delay 30ms] [-conn-delay 60ms] [-quick] [-only lock,build] [-out FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config holds the command-line flags.
type config struct {
	runs        int
	plugins     int           // plugins in the build scenarios
	lockPlugins int           // plugins in the lock scenario
	delay       time.Duration // added to every request to the bench's git servers and registries
	connDelay   time.Duration // added to every new connection to them
	layerMB     int
	quick       bool
	only        map[string]bool
	out         string
	keep        bool
	seed        uint64
	profileDir  string
	layerChild  string
	worktree    bool
	rev         string // commit to build graft from (default HEAD)
	memPlugins  int    // plugins in the big memory rows
	bigMB       int    // size of the one big file in the memory rows
	baseMB      int    // size of the realistic base of the first-push rows
}

// scenario names, for -only.
var scenarioNames = []string{"lock", "build", "push", "memory", "layer", "launcher", "health"}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	c := &config{}
	fs.IntVar(&c.runs, "runs", 3, "timed runs per measurement; the table shows the median")
	fs.IntVar(&c.plugins, "plugins", 20, "plugins in the build scenarios")
	fs.IntVar(&c.lockPlugins, "lock-plugins", 50, "plugins in the lock scenario")
	fs.DurationVar(&c.delay, "delay", 30*time.Millisecond, "delay added to every request to the bench's git servers and registries (one round trip to a nearby registry)")
	fs.DurationVar(&c.connDelay, "conn-delay", 60*time.Millisecond, "delay added to every new connection to them (TCP and TLS handshakes)")
	fs.IntVar(&c.layerMB, "layer-mb", 200, "size of the plugin in the layer throughput scenario, in MB")
	fs.BoolVar(&c.quick, "quick", false, "a fast smoke run of the same rows: 1 run, 5 build plugins, 10 lock plugins, a 40 MB layer, a 150 MB base")
	only := fs.String("only", "", "comma-separated scenarios to run: "+strings.Join(scenarioNames, ","))
	fs.StringVar(&c.out, "out", "", "results file (default bench/results/<date>-<host>.json)")
	fs.BoolVar(&c.worktree, "worktree", false, "build graft from the working tree instead of the HEAD commit")
	fs.StringVar(&c.rev, "rev", "HEAD", "build graft from this commit (e.g. main, to compare before and after a change)")
	fs.IntVar(&c.memPlugins, "mem-plugins", 200, "plugins in the memory scenario's large build (about 4.6 MB each)")
	fs.IntVar(&c.bigMB, "big-mb", 200, "size of the one file of the memory scenario's big plugin, in MB")
	fs.IntVar(&c.baseMB, "base-mb", 700, "size of the realistic base of the first-push rows, in MB (15 layers)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary folder (for looking at the inputs)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated plugin content")
	fs.StringVar(&c.layerChild, "layer-child", "", "internal: make one layer of this folder and print the times")
	fs.StringVar(&c.profileDir, "profile", "", "write CPU profiles of in-process measurements (the layer writer) to this folder")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.quick {
		c.runs, c.plugins, c.lockPlugins, c.layerMB, c.memPlugins, c.bigMB, c.baseMB = 1, 5, 10, 40, 20, 40, 150
	}
	if c.runs < 1 || c.plugins < 2 || c.lockPlugins < 1 || c.layerMB < 1 || c.baseMB < 13 {
		return nil, fmt.Errorf("-runs, -lock-plugins and -layer-mb must be at least 1, -plugins at least 2, -base-mb at least 13")
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !contains(scenarioNames, s) {
			return nil, fmt.Errorf("-only %s: unknown scenario; choose from %s", s, strings.Join(scenarioNames, ","))
		}
		c.only[s] = true
	}
	return c, nil
}

func (c *config) selected(name string) bool { return len(c.only) == 0 || c.only[name] }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.layerChild != "" {
		if err := layerChild(cfg.layerChild, cfg.profileDir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config) error {
	start := time.Now()
	b, err := newBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.close()
	// The machine and graft's commit are read once, before the first row: every row saves
	// the results file, which is tracked, so a later `git status` would call the tree dirty.
	m := describeMachine(ctx, b.root, b.cfg.rev)
	m.LoadStart = loadAverage()
	var rows []*row
	for _, sc := range []struct {
		name string
		run  func(context.Context, *bench) []*row
	}{
		{"lock", lockRows},
		{"build", buildRows},
		{"push", pushRows},
		{"memory", memoryRows},
		{"layer", layerRows},
		{"launcher", launcherRows},
		{"health", healthRows},
	} {
		if !cfg.selected(sc.name) || ctx.Err() != nil {
			continue
		}
		b.logf("== %s", sc.name)
		rows = append(rows, sc.run(ctx, b)...)
		// Saved after every scenario, so an interrupted run still leaves what it measured.
		if _, err := newResults(b, m, rows, time.Since(start)).write(b.root, cfg.out); err != nil {
			return err
		}
	}
	fmt.Print(formatTable(rows))
	res := newResults(b, m, rows, time.Since(start))
	path, err := res.write(b.root, cfg.out)
	if err != nil {
		return err
	}
	rm := res.Machine // m with the load average at the end
	fmt.Printf("\nmachine: %s, %d cores, %d MB, kernel %s, %s, docker %s; load average at start %s, at end %s\n",
		rm.CPU, rm.Cores, rm.MemoryMB, rm.Kernel, rm.GoVersion, rm.DockerVersion, rm.LoadStart, rm.LoadEnd)
	fmt.Printf("results: %s (%s total)\n", path, time.Since(start).Round(time.Second))
	return ctx.Err()
}
