package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// The test binary doubles as the programs the launcher supervises: with GRAFT_TEST_CHILD set,
// TestMain runs one of these modes instead of the tests. Real processes, no mocks.
const childEnv = "GRAFT_TEST_CHILD"

func runChild(mode string) int {
	switch mode {
	case "signals":
		return childSignals()
	case "serve":
		return childServe()
	case "orphans":
		return childOrphans()
	case "intermediate":
		return childIntermediate()
	case "naive-subreaper":
		return childNaiveSubreaper()
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 99
}

// childSignals prints every signal it receives (one name per line) and exits 0 on SIGTERM.
// Run it with GODEBUG=asyncpreemptoff=1 so its own runtime sends it no SIGURG.
func childSignals() int {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, syscall.SIGURG, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP, syscall.SIGTERM)
	fmt.Println("ready")
	for s := range ch {
		fmt.Printf("got %s\n", sigLabel(s.(syscall.Signal)))
		if s == syscall.SIGTERM {
			return 0
		}
	}
	return 0
}

func sigLabel(s syscall.Signal) string {
	switch s {
	case syscall.SIGURG:
		return "SIGURG"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// childServe listens on SERVE_PORTS (comma-separated) after SERVE_DELAY, answering 200 on
// /health. SIGUSR1 closes the last listener: one component goes down, the process stays up.
func childServe() int {
	if d, err := time.ParseDuration(os.Getenv("SERVE_DELAY")); err == nil {
		time.Sleep(d)
	}
	var lns []net.Listener
	for _, p := range strings.Split(os.Getenv("SERVE_PORTS"), ",") {
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		lns = append(lns, ln)
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
			}
		}))
	}
	fmt.Println("listening")
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	<-usr1
	lns[len(lns)-1].Close()
	fmt.Println("closed last")
	select {}
}

// childOrphans makes 100 orphans: an intermediate process starts 100 short-lived children and
// exits without waiting for them, so they are reparented to the nearest subreaper.
func childOrphans() int {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=intermediate")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "intermediate:", err)
		return 3
	}
	fmt.Println("spawned")
	select {}
}

func childIntermediate() int {
	for i := 0; i < 100; i++ {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	time.Sleep(200 * time.Millisecond) // let them exit: they become zombies, then orphans
	return 0
}

// childNaiveSubreaper is the control: a subreaper that waits only for its own child, as a
// launcher built on exec.Cmd.Wait alone would. Orphans reparented to it stay zombies.
func childNaiveSubreaper() int {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, 36, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "prctl:", errno)
		return 3
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=orphans")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return 3
	}
	return 0
}
