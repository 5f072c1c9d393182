package settings

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// *_FILE is bounded: /dev/zero (endless) and a file over 1 MiB fail with the variable named;
// exactly 1 MiB is accepted.
func TestFileSizeLimit(t *testing.T) {
	decl := []config.Setting{{Name: "key", Env: "APP_KEY"}}
	for _, file := range []string{"/dev/zero", writeFile(t, strings.Repeat("k", MaxFileSize+1))} {
		_, err := Resolve(decl, map[string]string{"APP_KEY_FILE": file})
		if err == nil || !strings.Contains(err.Error(), "APP_KEY_FILE") || !strings.Contains(err.Error(), "1 MiB") {
			t.Fatalf("%s: err = %v", file, err)
		}
		if strings.Contains(err.Error(), "kkkk") {
			t.Fatalf("error shows content: %v", err)
		}
	}
	r, err := Resolve(decl, map[string]string{"APP_KEY_FILE": writeFile(t, strings.Repeat("k", MaxFileSize))})
	if err != nil || len(r.Values[0].Value) != MaxFileSize {
		t.Fatalf("a 1 MiB file must be accepted: %v", err)
	}
}
