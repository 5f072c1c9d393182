package attest_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/attest"
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

// eclNotice is the notice ArchivesSpace and its plugins ship as COPYING, with a copyright line
// of the kind they put above it.
const eclNotice = `Copyright 2019 Example University Library
Licensed under the Educational Community License, Version 2.0 (the
"License"); you may not use this file except in compliance with the
License. You may obtain a copy of the License at

http://opensource.org/licenses/ecl2.php

Unless required by applicable law or agreed to in writing,
software distributed under the License is distributed on an "AS IS"
BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express
or implied. See the License for the specific language governing
permissions and limitations under the License.
`

const gplLaterNotice = `This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.

This program is distributed in the hope that it will be useful,
but WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
GNU General Public License for more details.

You should have received a copy of the GNU General Public License
along with this program.  If not, see <https://www.gnu.org/licenses/>.
`

func TestDetectLicense(t *testing.T) {
	ecl := licensecheckText(t, "ECL-2.0.t1")
	gpl := licensecheckText(t, "GPL-3.0.t1")
	for _, tc := range []struct {
		name  string
		files [][]byte
		want  string
	}{
		{"the ECL-2.0 notice ArchivesSpace ships", [][]byte{[]byte(eclNotice)}, "ECL-2.0"},
		{"the ECL-2.0 text", [][]byte{ecl}, "ECL-2.0"},
		// The OSI copy names opensource.org, not osedu.org; the Apache URL it quotes is a
		// reference, not a second licence.
		{"the ECL-2.0 text from opensource.org", [][]byte{bytes.Replace(ecl, []byte("http://www.osedu.org/licenses/"),
			[]byte("http://opensource.org/licenses/ECL-2.0"), 1)}, "ECL-2.0"},
		{"the GPL 3 text alone", [][]byte{gpl}, "GPL-3.0-only"},
		{"the GPL 3 text and an or-later notice", [][]byte{gpl, []byte(gplLaterNotice)}, "GPL-3.0-or-later"},
		{"the or-later notice alone", [][]byte{[]byte(gplLaterNotice)}, "GPL-3.0-or-later"},
		{"MIT", [][]byte{[]byte(mitText)}, "MIT"},
		{"MIT and ECL", [][]byte{[]byte(mitText), []byte(eclNotice)}, "ECL-2.0 AND MIT"},
		{"a custom licence", [][]byte{[]byte("all rights reserved, ask us")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := attest.DetectLicense(tc.files); got != tc.want {
				t.Errorf("DetectLicense = %q, want %q", got, tc.want)
			}
		})
	}
}
