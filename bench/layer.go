package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/graft-build/graft/builder/layer"
)

// layerRows: graft's layer writer on one big plugin, beside `tar | pigz -1 | sha256sum`, the
// fastest way this machine has to turn a folder into a gzip blob and its digest (the floor).
// Target: graft's throughput ≥ 0.8× the floor's.
func layerRows(ctx context.Context, b *bench) []*row {
	return []*row{layerRow(ctx, b, false), layerRow(ctx, b, true)}
}

// layerRow is the layer row on the mixed plugin, or on source text only: random bytes are
// incompressible, where deflate is fastest whatever the level, which flatters graft's level 6
// against pigz's level 1; on text pigz -1 has the edge.
func layerRow(ctx context.Context, b *bench, text bool) *row {
	mb := b.cfg.layerMB
	what, sub := "one %d MB plugin", "big-plugin"
	if text {
		what, sub = "one %d MB plugin of source text only", "big-text-plugin"
	}
	r := &row{Scenario: "layer throughput, " + fmt.Sprintf(what, mb), Target: "≥ 0.8× the floor's MB/s (time ≤ 1.25× the floor's)"}
	dir := filepath.Join(b.tmp, sub)
	size, err := writeBigPlugin(dir, b.cfg.seed, mb, text)
	if err != nil {
		r.Graft = failedSide("graft layer writer", err)
		return r
	}
	r.Peers = []*side{layerFloor(ctx, b, dir, size)}
	r.Graft = graftLayer(ctx, b, dir, size)
	if r.Graft.ok() && r.Peers[0].ok() {
		// Same input size: time ≤ floor/0.8 is throughput ≥ 0.8× floor.
		r.Met = boolPtr(r.Graft.Median*0.8 <= r.Peers[0].Median)
	}
	content := "60% incompressible assets, 40% source text: favours graft, whose level 6 costs little more than level 1 on incompressible bytes"
	if text {
		content = "source text only: favours pigz, whose level 1 is much cheaper than level 6 on text"
	}
	r.Notes = append(r.Notes, fmt.Sprintf("input: %s in %s (%s); graft: "+
		"list the files, then builder/layer.New streaming them (sort, tar, gzip level %d with klauspost/pgzip in 1 MiB blocks on all cores, "+
		"sha256 of tar and blob in the same pass, blob to a file), in a fresh process per run as graft build is; "+
		"floor: `tar -cf - | pigz -1 | sha256sum` on %d cores",
		formatValue(float64(size), unitBytes), dir, content, layer.DefaultLevel, runtime.NumCPU()))
	if r.Graft.ok() {
		r.Notes = append(r.Notes, fmt.Sprintf("of graft's %s, listing the files took %s",
			formatValue(r.Graft.Median, unitSeconds), formatValue(r.Graft.Extra["read_files_s"], unitSeconds)))
	}
	b.logf("%s: graft %s, floor %s", r.Scenario, r.Graft.cell(), r.Peers[0].cell())
	return r
}

// writeBigPlugin writes a plugin of about mb megabytes: vendored jars and images (incompressible)
// and a large source tree.
func writeBigPlugin(dir string, seed uint64, mb int, textOnly bool) (int64, error) {
	rng := rand.New(rand.NewPCG(seed, 1<<41))
	var total int64
	write := func(p string, data []byte) error {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		total += int64(len(data))
		return os.WriteFile(full, data, 0o644)
	}
	want := int64(mb) << 20
	for i := 0; !textOnly && total < want*6/10; i++ {
		if err := write(fmt.Sprintf("vendor/jars/lib-%03d.jar", i), randomBytes(rng, 1<<20+rng.IntN(7<<20))); err != nil {
			return 0, err
		}
	}
	for i := 0; total < want; i++ {
		if err := write(fmt.Sprintf("src/module_%02d/file_%04d.rb", i%40, i), sourceText(rng, 2<<10+rng.IntN(60<<10))); err != nil {
			return 0, err
		}
	}
	return total, nil
}

func layerFloor(ctx context.Context, b *bench, dir string, size int64) *side {
	name := "`tar | pigz -1 | sha256sum` (floor)"
	for _, t := range []string{"tar", "pigz", "sha256sum", "bash"} {
		if _, err := lookTool(t); err != nil {
			return statusSide(name, err.Error())
		}
	}
	runs, err := measure(b.cfg.runs, nil, func(int) error {
		_, err := runCmd(ctx, cmdSpec{}, "bash", "-o", "pipefail", "-c",
			`tar -C "$1" -cf - . | pigz -1 | sha256sum`, "floor", dir)
		return err
	})
	if err != nil {
		return failedSide(name, err)
	}
	return throughputSide(name, runs, size)
}

func throughputSide(name string, runs []float64, size int64) *side {
	s := okSide(name, unitSeconds, runs)
	s.Extra = map[string]float64{"mb_per_s": float64(size) / (1 << 20) / s.Median}
	return s
}

// graftLayer times the layer writer in a fresh process per run, as `graft build` is one: the
// bench re-executes itself with -layer-child, which reads the folder, makes the layer and
// reports the time each part took.
func graftLayer(ctx context.Context, b *bench, dir string, size int64) *side {
	name := "graft layer writer"
	self, err := os.Executable()
	if err != nil {
		return failedSide(name, err)
	}
	var reads []float64
	runs, err := measureOutput(b.cfg.runs, func(i int) (float64, error) {
		args := []string{"-layer-child", dir}
		if b.cfg.profileDir != "" && i == 0 {
			args = append(args, "-profile", b.cfg.profileDir)
		}
		out, err := runCmd(ctx, cmdSpec{}, self, args...)
		if err != nil {
			return 0, err
		}
		var read, total float64
		if _, err := fmt.Sscanf(out, "%g %g", &read, &total); err != nil {
			return 0, fmt.Errorf("layer child printed %q: %w", out, err)
		}
		reads = append(reads, read)
		return total, nil
	})
	if err != nil {
		return failedSide(name, err)
	}
	s := throughputSide(name, runs, size)
	s.Extra["read_files_s"] = median(reads)
	return s
}

// measureOutput collects n values that each run measures itself.
func measureOutput(n int, run func(i int) (float64, error)) ([]float64, error) {
	var out []float64
	for i := 0; i < n; i++ {
		v, err := run(i)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// layerChild is one measurement of the layer writer: it prints the seconds spent reading the
// files and the seconds in total (read + layer.New, which compresses and hashes).
func layerChild(dir, profileDir string) error {
	if profileDir != "" {
		stop, err := startProfile(profileDir, "layer")
		if err != nil {
			return err
		}
		defer stop()
	}
	start := time.Now()
	entries, err := readEntries(dir)
	if err != nil {
		return err
	}
	read := time.Since(start)
	l, err := layer.New(entries, layer.WithRoot("/app/plugins/big"), layer.WithOwner(1000, 1000))
	if err != nil {
		return err
	}
	if _, err := l.Digest(); err != nil {
		return err
	}
	fmt.Printf("%g %g\n", read.Seconds(), time.Since(start).Seconds())
	return nil
}

// readEntries lists a folder as layer entries under /app/plugins/big whose contents are
// streamed when the layer is written, as the builder does with a plugin's tree.
func readEntries(dir string) ([]layer.Entry, error) {
	var entries []layer.Entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := layer.Entry{Name: "/app/plugins/big/" + filepath.ToSlash(rel), Mode: 0o755, Type: tar.TypeDir}
		if !d.IsDir() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			e.Type, e.Mode, e.Size = tar.TypeReg, 0o644, fi.Size()
			e.Open = func() (io.ReadCloser, error) { return os.Open(p) }
		}
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// startProfile writes a CPU profile of what follows to dir/name.cpu.pprof.
func startProfile(dir, name string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, name+".cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
