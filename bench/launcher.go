package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The launcher rows run graft-launcher on the host (not in a container): what is measured is
// the launcher's own cost, which is the same in a container minus the runtime's.

// launcherIterations is how many starts one run times; the run's value is their median.
func (b *bench) launcherIterations() int {
	if b.cfg.quick {
		return 10
	}
	return 40
}

// launcherStatus says why the launcher rows cannot run, or "".
func (b *bench) launcherStatus() string {
	if b.launcher == "" {
		return "waiting: " + b.launcherErr.Error()
	}
	return ""
}

// writeLauncherConfig writes a launcher.toml with one process running command and returns
// its path.
func (b *bench) writeLauncherConfig(name string, command []string, extra string) (string, error) {
	dir := filepath.Join(b.tmp, "launcher", name)
	quoted := make([]string, len(command))
	for i, c := range command {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	toml := fmt.Sprintf(`tmp_dir = %q
port_dir = %q

[[process]]
name = "app"
command = [%s]
%s`, filepath.Join(dir, "tmp"), filepath.Join(dir, "ports"), strings.Join(quoted, ", "), extra)
	for _, d := range []string{"tmp", "ports"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "launcher.toml")
	return path, writeFile(path, toml)
}

// launcherRows: start overhead (a process that exits at once, run through each supervisor),
// idle RSS and binary size, beside direct exec and tini.
func launcherRows(ctx context.Context, b *bench) []*row {
	start := &row{Scenario: "launcher start → exit of /bin/true"}
	execRow := &row{Scenario: "launcher exec -- /bin/true"}
	rss := &row{Scenario: "launcher idle RSS (supervising sleep)", Target: "≤ 8 MB"}
	size := &row{Scenario: "launcher binary size"}
	rows := []*row{start, execRow, rss, size}
	tini, tiniErr := lookTool("tini")
	trueBin, err := exec.LookPath("true")
	if err != nil {
		trueBin = "/bin/true"
	}
	direct := timeStarts(ctx, b, "direct exec", nil, nil, trueBin)
	tiniSide := timeStarts(ctx, b, "tini", tiniErr, nil, tini, "-s", "--", trueBin)
	start.Peers = []*side{direct, tiniSide}
	execRow.Peers = []*side{direct, tiniSide}
	size.Peers = []*side{binarySize("tini-static (Debian)", "/usr/bin/tini-static"), binarySize("tini (Debian, dynamic)", tini)}
	rss.Peers = []*side{idleRSS(ctx, b, "tini", tiniErr, nil, tini, "-s", "--", "sleep", "30")}
	if st := b.launcherStatus(); st != "" {
		for _, r := range rows {
			r.Graft = statusSide("graft-launcher", st)
		}
		return rows
	}
	cfg, err := b.writeLauncherConfig("start", []string{trueBin}, "")
	if err != nil {
		start.Graft = failedSide("graft-launcher run", err)
		return rows
	}
	env := []string{"GRAFT_LAUNCHER_CONFIG=" + cfg}
	start.Graft = timeStarts(ctx, b, "graft-launcher run", nil, env, b.launcher, "run")
	overhead(start, direct, tiniSide)
	execRow.Graft = timeStarts(ctx, b, "graft-launcher exec", nil, env, b.launcher, "exec", "--", trueBin)
	overhead(execRow, direct, tiniSide)
	size.Graft = binarySize("graft-launcher (static)", b.launcher)
	cfg, err = b.writeLauncherConfig("idle", []string{"sleep", "30"}, "")
	if err != nil {
		rss.Graft = failedSide("graft-launcher run", err)
		return rows
	}
	rss.Graft = idleRSS(ctx, b, "graft-launcher run", nil, []string{"GRAFT_LAUNCHER_CONFIG=" + cfg}, b.launcher, "run")
	if rss.Graft.ok() {
		rss.Met = boolPtr(rss.Graft.Median <= 8<<20)
	}
	start.Notes = append(start.Notes, fmt.Sprintf("each value is the median of %d starts of the launcher as shipped "+
		"(static, -trimpath, stripped); graft-launcher reads launcher.toml, cleans tmp, records the selected components "+
		"in port_dir, supervises the process and exits with its code; tini runs with -s (not PID 1 here)",
		b.launcherIterations()))
	execRow.Notes = append(execRow.Notes, "exec resolves settings and renders templates (none here), runs the command "+
		"as a supervised child and exits with its code; it does not clean tmp or write port files")
	rss.Notes = append(rss.Notes, "VmRSS of the supervisor itself, 300 ms after start, from /proc/PID/status")
	b.logf("launcher: start %s (direct %s, tini %s), rss %s, size %s", start.Graft.cell(), direct.cell(),
		tiniSide.cell(), rss.Graft.cell(), size.Graft.cell())
	return rows
}

// overhead sets r's target, a ratio to tini's start in the same run (≤ 1.5×; an absolute
// time would measure the machine), and says the overhead over direct exec.
func overhead(r *row, direct, tini *side) {
	r.Target = "≤ 1.5× tini's start"
	if !r.Graft.ok() {
		return
	}
	if direct.ok() {
		r.Notes = append(r.Notes, fmt.Sprintf("overhead over direct exec: wall %s, CPU %s",
			formatValue(r.Graft.Median-direct.Median, unitSeconds), formatValue(r.Graft.Extra["cpu_s"]-direct.Extra["cpu_s"], unitSeconds)))
	}
	if tini.ok() {
		r.Met = boolPtr(r.Graft.Median <= 1.5*tini.Median)
	}
}

// timeStarts launcherIterations runs of a command per bench run, and records the
// command's CPU time (its own and its reaped children's: wait4 reports both), which shows
// what scheduling delays on a loaded machine add to the wall time.
func timeStarts(ctx context.Context, b *bench, name string, missing error, env []string, bin string, args ...string) *side {
	if missing != nil {
		return statusSide(name, missing.Error())
	}
	runs, cpus, faults := make([]float64, b.cfg.runs), make([]float64, b.cfg.runs), make([]float64, b.cfg.runs)
	for i := range runs {
		k := b.launcherIterations()
		wall, cpu, flt := make([]float64, k), make([]float64, k), make([]float64, k)
		for j := range wall {
			start := time.Now()
			u, err := runCmdCPU(ctx, cmdSpec{env: env}, bin, args...)
			if err != nil {
				return failedSide(name, err)
			}
			wall[j], cpu[j], flt[j] = time.Since(start).Seconds(), u.cpu, u.pageFaults
		}
		runs[i], cpus[i], faults[i] = median(wall), median(cpu), median(flt)
	}
	s := okSide(name, unitSeconds, runs)
	s.setExtra("cpu_s", cpus)
	s.setExtra("page_faults", faults)
	return s
}

func binarySize(name, path string) *side {
	fi, err := os.Stat(path)
	if err != nil {
		return statusSide(name, "peer missing: "+path)
	}
	return okSide(name, unitBytes, []float64{float64(fi.Size())})
}

// idleRSS starts a supervisor of `sleep`, waits for it to settle, reads its resident set size.
func idleRSS(ctx context.Context, b *bench, name string, missing error, env []string, bin string, args ...string) *side {
	if missing != nil {
		return statusSide(name, missing.Error())
	}
	var values []float64
	for i := 0; i < b.cfg.runs; i++ {
		v, err := oneRSS(ctx, env, bin, args...)
		if err != nil {
			return failedSide(name, err)
		}
		values = append(values, v)
	}
	return okSide(name, unitBytes, values)
}

func oneRSS(ctx context.Context, env []string, bin string, args ...string) (float64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	time.Sleep(300 * time.Millisecond)
	kb := procField(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid), "VmRSS")
	var n float64
	if _, err := fmt.Sscanf(kb, "%f", &n); err != nil {
		return 0, fmt.Errorf("%s exited early or /proc unreadable: %s", filepath.Base(bin), oneLine(stderr.String(), 200))
	}
	return n * 1024, nil
}
