package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-build/graft/launcher/config"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveFileEnvSemantics(t *testing.T) {
	decl := []config.Setting{{Name: "db", Env: "DB", Default: "dflt"}}
	file := writeFile(t, "from-file  \n\n")
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    string
		source  Source
		secret  bool
		wantErr string
	}{
		{"env wins", map[string]string{"DB": "direct"}, "direct", FromEnv, false, ""},
		{"file, trailing newlines stripped, spaces kept", map[string]string{"DB_FILE": file}, "from-file  ", FromFile, true, ""},
		{"empty env counts as unset", map[string]string{"DB": "", "DB_FILE": file}, "from-file  ", FromFile, true, ""},
		{"empty file var counts as unset", map[string]string{"DB": "x", "DB_FILE": ""}, "x", FromEnv, false, ""},
		{"default", map[string]string{}, "dflt", FromDefault, false, ""},
		{"both set", map[string]string{"DB": "x", "DB_FILE": file}, "", "", false, "setting db: both DB and DB_FILE are set; set only one"},
		{"missing file", map[string]string{"DB_FILE": "/nonexistent/s"}, "", "", false, "setting db: cannot read DB_FILE: /nonexistent/s: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Resolve(decl, tc.env)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := r.Values[0]
			if v.Value != tc.want || v.Source != tc.source || v.Secret != tc.secret {
				t.Fatalf("got %+v, want value %q source %s secret %v", v, tc.want, tc.source, tc.secret)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	_, err := Resolve([]config.Setting{{Name: "db", Env: "DB", Required: true}}, map[string]string{"DB": ""})
	if err == nil || err.Error() != "setting db is required: set DB or DB_FILE" {
		t.Fatalf("err = %v", err)
	}
}

func TestUnreadableFileErrorHasNoContent(t *testing.T) {
	dir := t.TempDir() // a directory cannot be read as a file
	_, err := Resolve([]config.Setting{{Name: "db", Env: "DB"}}, map[string]string{"DB_FILE": dir})
	if err == nil || !strings.Contains(err.Error(), "cannot read DB_FILE") {
		t.Fatalf("err = %v", err)
	}
}

func TestRedactAndDisplay(t *testing.T) {
	file := writeFile(t, "hunter2\n")
	r, err := Resolve([]config.Setting{
		{Name: "pw", Env: "PW"},
		{Name: "token", Env: "TOKEN", Secret: true},
		{Name: "plain", Env: "PLAIN"},
	}, map[string]string{"PW_FILE": file, "TOKEN": "tok-hunter2-en", "PLAIN": "visible"})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Redact("a hunter2 b tok-hunter2-en c visible")
	if got != "a *** b *** c visible" {
		t.Fatalf("Redact = %q", got)
	}
	if r.Values[0].Display() != Redacted || r.Values[1].Display() != Redacted || r.Values[2].Display() != "visible" {
		t.Fatalf("Display: %+v", r.Values)
	}
}

func TestEnviron(t *testing.T) {
	file := writeFile(t, "pw\n")
	r, err := Resolve([]config.Setting{
		{Name: "pw", Env: "PW"},
		{Name: "mode", Env: "MODE", Default: "prod"},
		{Name: "empty", Env: "EMPTY"},
	}, map[string]string{"PW_FILE": file})
	if err != nil {
		t.Fatal(err)
	}
	got := r.Environ([]string{"PATH=/bin", "PW_FILE=" + file, "OTHER_FILE=/keep", "MODE=", "EMPTY_FILE="})
	want := []string{"PATH=/bin", "OTHER_FILE=/keep", "MODE=prod", "PW=pw"}
	if !slices.Equal(got, want) {
		t.Fatalf("Environ = %q, want %q", got, want)
	}
}

// A one-character secret must not garble other text, nor show by where the marks fall.
func TestRedactShortSecretsNeverGarble(t *testing.T) {
	r, err := Resolve([]config.Setting{{Name: "pw", Env: "APP_PW", Secret: true}, {Name: "long", Env: "LONG", Secret: true}},
		map[string]string{"APP_PW": "1", "LONG": "s3cr3t-value"})
	if err != nil {
		t.Fatal(err)
	}
	line := `stop_timeout = "15s" port = 8081 url = "mysql://u:s3cr3t-value@db/x"`
	want := `stop_timeout = "15s" port = 8081 url = "mysql://u:***@db/x"`
	if got := r.Redact(line); got != want {
		t.Fatalf("Redact = %q, want %q", got, want)
	}
	for in, want := range map[string]string{"1": Redacted, "15s": "15s", "s3cr3t-value": Redacted,
		"--password=s3cr3t-value": "--password=***", "": ""} {
		if got := r.RedactField(in); got != want {
			t.Errorf("RedactField(%q) = %q, want %q", in, got, want)
		}
	}
	if names := r.SecretNames(); !names["pw"] || !names["long"] || len(names) != 2 {
		t.Fatalf("SecretNames = %v", names)
	}
}

// *_FILE is bounded by what exec can pass: /dev/zero (not a regular file) and a file over
// 128 KiB fail with the variable named; the longest value exec passes as APP_KEY is accepted,
// with trailing newlines beyond it.
func TestFileSizeLimit(t *testing.T) {
	decl := []config.Setting{{Name: "key", Env: "APP_KEY"}}
	longest := MaxEnvEntry - len("APP_KEY=") - 1
	for file, want := range map[string]string{
		"/dev/zero": "not a regular file (a character device)",
		writeFile(t, strings.Repeat("k", MaxEnvEntry+1)):  "larger than 128 KiB",
		writeFile(t, strings.Repeat("k", longest+1)+"\n"): "exec passes at most",
	} {
		_, err := Resolve(decl, map[string]string{"APP_KEY_FILE": file})
		if err == nil || !strings.Contains(err.Error(), "APP_KEY_FILE") || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err = %v, want %q", file, err, want)
		}
		if strings.Contains(err.Error(), "kkkk") {
			t.Fatalf("error shows content: %v", err)
		}
	}
	r, err := Resolve(decl, map[string]string{"APP_KEY_FILE": writeFile(t, strings.Repeat("k", longest)+"\n\n")})
	if err != nil || len(r.Values[0].Value) != longest {
		t.Fatalf("a value of %d bytes must be accepted: %v", longest, err)
	}
}

// A FIFO with no writer is refused at once (it used to block the launcher forever), and so is
// anything else that is not a regular file; a symlink to a regular file (Kubernetes' secret
// volumes) is followed.
func TestFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(writeFile(t, "linked\n"), link); err != nil {
		t.Fatal(err)
	}
	decl := []config.Setting{{Name: "key", Env: "APP_KEY"}}
	done := make(chan error, 1)
	go func() {
		_, err := Resolve(decl, map[string]string{"APP_KEY_FILE": fifo})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cannot read APP_KEY_FILE: "+fifo+" is not a regular file (a FIFO)") {
			t.Fatalf("FIFO: err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve blocked on a FIFO with no writer")
	}
	if _, err := Resolve(decl, map[string]string{"APP_KEY_FILE": dir}); err == nil || !strings.Contains(err.Error(), "not a regular file (a folder)") {
		t.Fatalf("folder: err = %v", err)
	}
	r, err := Resolve(decl, map[string]string{"APP_KEY_FILE": link})
	if err != nil || r.Values[0].Value != "linked" {
		t.Fatalf("symlink to a file: %v %+v", err, r)
	}
}

// A NUL byte cannot reach the app's environment: refused, naming the variable, never the value.
func TestFileWithNULRefused(t *testing.T) {
	decl := []config.Setting{{Name: "key", Env: "APP_KEY"}, {Name: "d", Env: "APP_D", Default: "a\x00b"}}
	_, err := Resolve(decl[:1], map[string]string{"APP_KEY_FILE": writeFile(t, "sec\x00ret\n")})
	if err == nil || err.Error() != "setting key: the value from APP_KEY_FILE holds a NUL byte, which no environment variable can carry (the app gets it as APP_KEY); remove it" {
		t.Fatalf("err = %v", err)
	}
	if _, err := Resolve(decl[1:], nil); err == nil || !strings.Contains(err.Error(), "setting d: the value from its default holds a NUL byte") {
		t.Fatalf("default: err = %v", err)
	}
}

// Redaction finds a secret in every form a message can carry it: as is, escaped by %q (quotes,
// backslashes, control and non-printable characters, invalid UTF-8), and line by line.
func TestRedactEveryForm(t *testing.T) {
	secrets := []string{`pa"ss`, `back\slash`, "multi-line\nsecond-line", "tab\there", "ünï\u200bcode", "bad\xffutf8", "line\r\nwindows"}
	env := map[string]string{}
	var decl []config.Setting
	for i, s := range secrets {
		name := fmt.Sprintf("S%d", i)
		env[name] = s
		decl = append(decl, config.Setting{Name: name, Env: name, Secret: true})
	}
	r, err := Resolve(decl, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		for _, text := range []string{
			"x " + s + " y",
			fmt.Sprintf("x %q y", s),
			fmt.Sprintf("x %q y", "k="+s),
			fmt.Sprintf("x %v y", fmt.Errorf("wrapped %q", s)),
		} {
			got := r.Redact(text)
			if !strings.Contains(got, Redacted) || leaks(got, s) {
				t.Errorf("Redact(%q) = %q", text, got)
			}
		}
	}
	// Each line of a multi-line secret is hidden on its own, as an app prints it.
	if got := r.Redact("key: second-line"); got != "key: ***" {
		t.Errorf("a line of a multi-line secret: %q", got)
	}
}

// leaks reports whether text holds s or any of its lines or escaped forms of 4 bytes or more.
func leaks(text, s string) bool {
	q := strconv.Quote(s)
	for _, f := range append([]string{s, q[1 : len(q)-1]}, strings.Split(s, "\n")...) {
		f = strings.TrimRight(f, "\r")
		if len(f) >= MinRedactLen && strings.Contains(text, f) {
			return true
		}
	}
	return false
}

// Text cut in the middle of a secret hides the part before the cut too.
func TestRedactCut(t *testing.T) {
	r, err := Resolve([]config.Setting{{Name: "k", Env: "K", Secret: true}}, map[string]string{"K": "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"token=0123456789":             "token=***",
		"token=0123456789abcdef x 012": "token=*** x 012", // shorter than MinRedactLen
		"token=0123":                   "token=***",
		"token=0129":                   "token=0129",
		"no secret here":               "no secret here",
	} {
		if got := r.RedactCut(in); got != want {
			t.Errorf("RedactCut(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever the secret and the text around it, no form of the secret survives Redact, and
// none of a secret cut at any point survives RedactCut.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{`pa"ss`, "x***y", "multi\nline", "\xff\xfe\xfd\xfc", "ünï\u200bcode", "aaaa"} {
		f.Add(s, "x", "xx")
	}
	f.Fuzz(func(t *testing.T, secret, before, after string) {
		if len(secret) < MinRedactLen || strings.IndexByte(secret, 0) >= 0 {
			return
		}
		r, err := Resolve([]config.Setting{{Name: "k", Env: "K", Secret: true}}, map[string]string{"K": secret})
		if err != nil {
			return // a value exec could not pass
		}
		for _, text := range []string{before + secret + after, fmt.Sprintf("%s%q%s", before, secret, after)} {
			if got := r.Redact(text); leaks(got, secret) {
				t.Fatalf("Redact(%q) = %q", text, got)
			}
		}
		if strings.Contains(secret, "*") {
			return // a cut secret could end like the redaction mark itself
		}
		whole := before + secret
		for cut := len(before) + MinRedactLen; cut < len(whole); cut++ {
			got := r.RedactCut(whole[:cut])
			if strings.HasSuffix(got, whole[len(before):cut]) {
				t.Fatalf("RedactCut(%q) = %q", whole[:cut], got)
			}
		}
	})
}
