package supervise

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

type child struct{ pid, pgid int }

// liveChildren lists the processes whose parent is pid and that are not zombies, from /proc.
// Without /proc, or with a /proc of another PID namespace (unshare --pid without
// --mount-proc: its pids are not ours to signal), it finds none, and stopping relies on
// process groups.
func liveChildren(pid int) []child {
	if pid == os.Getpid() && !hasChildren() {
		return nil // the common case at stop; skips reading every /proc/*/stat
	}
	if self, err := os.Readlink("/proc/self"); err != nil || self != strconv.Itoa(os.Getpid()) {
		return nil
	}
	dir, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	var out []child
	for _, name := range names {
		cpid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name (which may contain spaces): state ppid pgrp ...
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgid, _ := strconv.Atoi(f[2])
		if ppid == pid {
			out = append(out, child{cpid, pgid})
		}
	}
	return out
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// hasChildren reports whether the launcher has any child at all, live or zombie, without
// reaping one: waitid(P_ALL, WEXITED|WNOHANG|WNOWAIT) fails with ECHILD only when there is none.
func hasChildren() bool {
	const pAll, wNowait = 0, 0x01000000
	var info [128]byte // siginfo_t
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pAll, 0, uintptr(unsafe.Pointer(&info[0])),
		syscall.WEXITED|syscall.WNOHANG|wNowait, 0, 0)
	return errno != syscall.ECHILD
}
