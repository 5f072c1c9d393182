package launcher

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/graft-build/graft/launcher/settings"
)

// execLimit is what Linux lets exec copy (argument and environment strings with their NULs,
// plus a pointer for each): a quarter of the stack limit, between 128 KiB and 6 MiB
// (fs/exec.c, bprm_stack_limits). Children inherit the launcher's stack limit.
func execLimit() int {
	const minLimit, maxLimit = 128 << 10, 6 << 20
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY || rl.Cur/4 > maxLimit {
		return maxLimit
	}
	return max(int(rl.Cur/4), minLimit)
}

// execSize is how much of execLimit a program with argv and env uses.
func execSize(argv, env []string) int {
	n := 8 * (max(len(argv), 1) + len(env))
	for _, s := range argv {
		n += len(s) + 1
	}
	for _, s := range env {
		n += len(s) + 1
	}
	return n
}

// checkExecSize refuses a program whose arguments and environment exec would refuse (E2BIG:
// it would fail to start with exit 126 naming no setting), naming the largest settings
// exported into that environment. Each setting alone fits (settings.Resolve checks it); this
// catches several large ones together.
func (l *launcher) checkExecSize(what string, argv, env []string) error {
	limit := execLimit()
	size := execSize(argv, env)
	if size <= limit {
		return nil
	}
	vals := append([]settings.Value(nil), l.res.Values...)
	sort.SliceStable(vals, func(i, j int) bool { return len(vals[i].Value) > len(vals[j].Value) })
	var largest []string
	for _, v := range vals[:min(3, len(vals))] {
		if v.Value != "" {
			largest = append(largest, fmt.Sprintf("%s (%d KiB, from %s)", v.Env, (len(v.Value)+1023)>>10, v.Origin()))
		}
	}
	return fmt.Errorf("%s: its environment and arguments come to %d KiB, more than the %d KiB exec accepts here (a quarter of the stack limit); the largest settings: %s; make them smaller",
		what, (size+1023)>>10, limit>>10, strings.Join(largest, ", "))
}
