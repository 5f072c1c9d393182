package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// results is what a run leaves behind so a later run (or another machine) can be compared.
type results struct {
	Date     string   `json:"date"`
	Duration string   `json:"duration"`
	Machine  machine  `json:"machine"`
	Flags    flagsOut `json:"flags"`
	Rows     []*row   `json:"rows"`
	Table    string   `json:"table"`
}

type machine struct {
	Host          string `json:"host"`
	CPU           string `json:"cpu"`
	Cores         int    `json:"cores"`
	MemoryMB      int    `json:"memory_mb"`
	Kernel        string `json:"kernel"`
	GoVersion     string `json:"go_version"`
	DockerVersion string `json:"docker_version"`
	GitVersion    string `json:"git_version"`
	GraftCommit   string `json:"graft_commit"`
	GraftDirty    bool   `json:"graft_dirty"`
	// Load averages (1, 5, 15 min) at the start and end of the run: this bench is meant for
	// shared machines, where they explain drift between runs.
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

type flagsOut struct {
	Runs        int    `json:"runs"`
	Plugins     int    `json:"plugins"`
	LockPlugins int    `json:"lock_plugins"`
	Delay       string `json:"delay"`
	ConnDelay   string `json:"conn_delay"`
	LayerMB     int    `json:"layer_mb"`
	BaseMB      int    `json:"base_mb"`
	Quick       bool   `json:"quick"`
	Worktree    bool   `json:"worktree"` // graft built from the working tree, not graft_commit
	Seed        uint64 `json:"seed"`
}

func newResults(b *bench, m machine, rows []*row, took time.Duration) *results {
	c := b.cfg
	m.LoadEnd = loadAverage()
	return &results{
		Date:     time.Now().UTC().Format(time.RFC3339),
		Duration: took.Round(time.Second).String(),
		Machine:  m,
		Flags: flagsOut{Runs: c.runs, Plugins: c.plugins, LockPlugins: c.lockPlugins, Delay: c.delay.String(), ConnDelay: c.connDelay.String(),
			LayerMB: c.layerMB, BaseMB: c.baseMB, Quick: c.quick, Seed: c.seed, Worktree: c.worktree},
		Rows:  rows,
		Table: formatTable(rows),
	}
}

// write saves the results as JSON at out, or at bench/results/<date>-<host>.json.
func (r *results) write(root, out string) (string, error) {
	if out == "" {
		out = filepath.Join(root, "bench", "results",
			fmt.Sprintf("%s-%s.json", time.Now().UTC().Format("2006-01-02"), r.Machine.Host))
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return "", err
	}
	return out, os.Rename(tmp, out)
}

func describeMachine(ctx context.Context, root, rev string) machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Host, _ = os.Hostname()
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int
		fmt.Sscanf(kb, "%d", &n)
		m.MemoryMB = n / 1024
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if out, err := runCmd(ctx, cmdSpec{}, "go", "version"); err == nil {
		m.GoVersion = strings.TrimSpace(out)
	}
	if out, err := runCmd(ctx, cmdSpec{}, "docker", "version", "--format",
		"client {{.Client.Version}}, engine {{.Server.Version}}"); err == nil {
		m.DockerVersion = strings.TrimSpace(out)
	} else {
		m.DockerVersion = "unavailable"
	}
	if out, err := runCmd(ctx, cmdSpec{}, "git", "version"); err == nil {
		m.GitVersion = strings.TrimSpace(out)
	}
	if out, err := runCmd(ctx, cmdSpec{dir: root}, "git", "rev-parse", rev); err == nil {
		m.GraftCommit = strings.TrimSpace(out)
	}
	if out, err := runCmd(ctx, cmdSpec{dir: root}, "git", "status", "--porcelain", "--untracked-files=no"); err == nil {
		m.GraftDirty = strings.TrimSpace(out) != ""
	}
	return m
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// procField is the value of the first "key : value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
