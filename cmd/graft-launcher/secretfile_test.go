package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failOnSecretConfig is a process printing a FATAL line that holds the secret setting pw (given
// as APP_PW or APP_PW_FILE), which fail_on matches.
func failOnSecretConfig(t *testing.T, dir string) string {
	t.Helper()
	return writeConfig(t, dir, fmt.Sprintf(`port_dir = %q
[[setting]]
name = "pw"
env = "APP_PW"
secret = true

[[process]]
name = "app"
command = ["sh", "-c", "printf 'FATAL cannot log in with %%s\n' \"$APP_PW\"; exec sleep 60"]
components = ["web"]

[[component]]
name = "web"
port = %d
fail_on = ["FATAL"]
`, filepath.Join(dir, "ports"), freePort(t)))
}

// The line a fail_on match prints is redacted before it is quoted or cut: a secret holding a
// quote, a backslash, a newline (the app prints its first line), non-printable unicode or
// invalid UTF-8, or one longer than the part of a line that is kept, never shows, in any form.
func TestFailOnLineRedactedBeforeQuoting(t *testing.T) {
	long := strings.Repeat("0123456789abcdef", 1300) // 20.8 KB: past the 16 KiB kept of a line
	for name, secret := range map[string]string{
		"quote and backslash": `pa"ss\word`,
		"newline":             "first-line-part\nsecond-line-part",
		"unicode":             "ünï\u200bcode-ß",
		"invalid UTF-8":       "bad\xff\xfebytes",
		"control":             "tab\there\x01",
		"long":                long,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := failOnSecretConfig(t, dir)
			file := filepath.Join(dir, "pw")
			must(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))
			for _, given := range []string{"APP_PW_FILE=" + file, "APP_PW=" + secret} {
				p := startLauncher(t, env(cfg, given), "run")
				if code := p.wait(t, 20*time.Second); code != 1 {
					t.Fatalf("%s: exit %d, want 1: %s", given[:6], code, p.stderr)
				}
				lines := launcherLines(p.stderr.String())
				if len(lines) != 1 || !strings.HasPrefix(lines[0], `graft-launcher: startup failed: process app printed "FATAL cannot log in with ***`) {
					t.Fatalf("launcher lines %q", lines)
				}
				q := strconv.Quote(secret)
				for _, form := range append([]string{secret, q[1 : len(q)-1], long[:300]}, strings.Split(secret, "\n")...) {
					if strings.Contains(lines[0], form) {
						t.Errorf("the line shows %q: %s", form, lines[0])
					}
				}
			}
		})
	}
}

// A *_FILE naming a FIFO with no writer is refused at once (it used to hang the launcher for
// ever), as is any other file that is not a regular one: exit 2, one line naming the variable.
func TestSecretFileMustBeRegular(t *testing.T) {
	s := newSecretSetup(t, "")
	fifo := filepath.Join(s.dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	for file, kind := range map[string]string{fifo: "a FIFO", "/dev/null": "a character device", s.dir: "a folder"} {
		for _, args := range [][]string{{"run"}, {"config"}, {"exec", "--", "true"}} {
			code, stderr := runIn(t, s.dir, env(s.cfg, "APP_DB_PASSWORD_FILE="+file), args...)
			want := "graft-launcher: setting db_password: cannot read APP_DB_PASSWORD_FILE: " + file + " is not a regular file (" + kind + ")"
			if code != 2 || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%s with APP_DB_PASSWORD_FILE=%s: exit %d, stderr %q; want exit 2 and %q", args[0], file, code, stderr, want)
			}
		}
	}
}

// A value exec cannot pass to the app (a NUL byte; more than 128 KiB in one variable; several
// settings together over the environment limit) is bad input, exit 2 naming the variable,
// before anything starts: it used to fail every process with exit 126 naming no setting.
func TestSecretFileValueExecCannotPass(t *testing.T) {
	s := newSecretSetup(t, "")
	nul := filepath.Join(s.dir, "nul")
	must(t, os.WriteFile(nul, []byte("sec\x00ret\n"), 0o600))
	big := filepath.Join(s.dir, "big")
	must(t, os.WriteFile(big, []byte(strings.Repeat("k", 200<<10)+"\n"), 0o600)) // under the old 1 MiB bound
	for file, want := range map[string]string{
		nul: "setting db_password: the value from APP_DB_PASSWORD_FILE holds a NUL byte",
		big: "setting db_password: cannot read APP_DB_PASSWORD_FILE: " + big + ": larger than 128 KiB",
	} {
		for _, args := range [][]string{{"run"}, {"exec", "--", "true"}} {
			code, stderr := runIn(t, s.dir, env(s.cfg, "APP_DB_PASSWORD_FILE="+file), args...)
			if code != 2 || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "kkkk") {
				t.Errorf("%s with %s: exit %d, stderr %q; want exit 2 and %q", args[0], filepath.Base(file), code, stderr, want)
			}
		}
	}
}

// Settings that each fit but together exceed what exec accepts (here a 1 MiB stack limit: 256
// KiB) are named before anything starts.
func TestSettingsTogetherTooLargeForExec(t *testing.T) {
	dir := t.TempDir()
	var decls, environ []string
	for i := range 3 {
		file := filepath.Join(dir, fmt.Sprintf("cert%d", i))
		must(t, os.WriteFile(file, []byte(strings.Repeat("c", 100<<10)), 0o600))
		decls = append(decls, fmt.Sprintf("[[setting]]\nname = \"cert%d\"\nenv = \"APP_CERT%d\"\n", i, i))
		environ = append(environ, fmt.Sprintf("APP_CERT%d_FILE=%s", i, file))
	}
	cfg := writeConfig(t, dir, fmt.Sprintf("port_dir = %q\n%s\n[[process]]\nname = \"app\"\ncommand = [\"true\"]\n", filepath.Join(dir, "ports"), strings.Join(decls, "\n")))
	for _, args := range [][]string{{"run"}, {"exec", "--", "true"}} {
		cmd := exec.Command("sh", append([]string{"-c", `ulimit -s 1024 && exec "$0" "$@"`, launcherBin}, args...)...)
		cmd.Env = env(append(environ, cfg)...)
		out, _ := cmd.CombinedOutput()
		want := "more than the 256 KiB exec accepts here (a quarter of the stack limit); the largest settings: APP_CERT0 (100 KiB, from APP_CERT0_FILE)"
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), want) || strings.Count(string(out), "\n") != 1 {
			t.Errorf("%v: exit %d, output %q; want exit 2 and %q", args, code, out, want)
		}
	}
}
