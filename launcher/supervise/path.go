package supervise

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// defaultPath is used when the environment has no PATH, as in execvp.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds name in the PATH of env (the child's environment, not the launcher's), and
// says which exit code a failure maps to: 127 not found, 126 found but not executable.
func lookPath(name string, env []string) (string, int, error) {
	if strings.Contains(name, "/") {
		return name, 0, nil // ForkExec reports ENOENT/EACCES precisely
	}
	pathVar, found := defaultPath, false
	for i := len(env) - 1; i >= 0 && !found; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			pathVar, found = v, true
		}
	}
	var notExec string
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 != 0 {
			return p, 0, nil
		}
		if notExec == "" {
			notExec = p
		}
	}
	if notExec != "" {
		return notExec, 126, &fs.PathError{Op: "exec", Path: notExec, Err: syscall.EACCES}
	}
	return name, 127, errors.New("command not found in PATH")
}
