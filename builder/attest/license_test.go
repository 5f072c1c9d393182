package attest_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
)

// licensecheckText is a licence text from licensecheck's own test data (its module is in the
// module cache: graft builds with it), without the two lines of expectations heading it.
func licensecheckText(t *testing.T, name string) []byte {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/licensecheck").Output()
	if err != nil {
		t.Fatalf("go list licensecheck: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := bytes.Cut(raw, []byte("\n\n"))
	return body
}

func TestDetectLicense(t *testing.T) {
	ecl := licensecheckText(t, "ECL-2.0.t1")
	gpl := licensecheckText(t, "GPL-3.0.t1")
	for _, tc := range []struct {
		name  string
		files [][]byte
		want  string
	}{
		{"the ECL-2.0 notice ArchivesSpace ships", [][]byte{[]byte(buildtest.ECLNotice)}, "ECL-2.0"},
		{"the ECL-2.0 text", [][]byte{ecl}, "ECL-2.0"},
		// The OSI copy names opensource.org, not osedu.org; the Apache URL it quotes is a
		// reference, not a second licence.
		{"the ECL-2.0 text from opensource.org", [][]byte{bytes.Replace(ecl, []byte("http://www.osedu.org/licenses/"),
			[]byte("http://opensource.org/licenses/ECL-2.0"), 1)}, "ECL-2.0"},
		{"the GPL 3 text alone", [][]byte{gpl}, "GPL-3.0-only"},
		{"the GPL 3 text and an or-later notice", [][]byte{gpl, []byte(buildtest.GPLLaterNotice)}, "GPL-3.0-or-later"},
		{"the or-later notice alone", [][]byte{[]byte(buildtest.GPLLaterNotice)}, "GPL-3.0-or-later"},
		{"MIT", [][]byte{[]byte(mitText)}, "MIT"},
		{"MIT and ECL", [][]byte{[]byte(mitText), []byte(buildtest.ECLNotice)}, "ECL-2.0 AND MIT"},
		{"a custom licence", [][]byte{[]byte("all rights reserved, ask us")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := attest.DetectLicense(tc.files); got != tc.want {
				t.Errorf("DetectLicense = %q, want %q", got, tc.want)
			}
		})
	}
}
