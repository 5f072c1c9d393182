package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/gittest"
	"github.com/graft-build/graft/internal/tooltest"
)

// eclCopying is the licence notice ArchivesSpace plugins ship (the COPYING of ArchivesSpace).
const eclCopying = `Copyright 2019 Example University Library
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

const gplLater = `This program is free software: you can redistribute it and/or modify
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

// The real syft converts graft's SPDX to CycloneDX keeping the plugins' licences (current
// SPDX ids, ECL-2.0 recognised from the ArchivesSpace notice) and the local plugin's package
// URL naming the site repository, its commit and the folder.
func TestSyftConvertsSBOM(t *testing.T) {
	syft := tooltest.Require(t, tooltest.Syft)
	gittest.RequireGit(t)
	buildEnv(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("aspace_ecl", map[string]string{"COPYING": eclCopying, "a.rb": "a"}, "")
	s.Plugin("gpl_plugin", map[string]string{"COPYING": gplLater, "g.rb": "g"}, "")
	s.WriteFile("plugins/cam/plugin.toml", "[source]\nlocal = \"files\"\n")
	s.WriteFile("plugins/cam/files/x.rb", "cam\n")
	siteGit(t, s.Dir, "init", "-q", "-b", "main")
	siteGit(t, s.Dir, "remote", "add", "origin", "https://git.example.org/uni/site.git")
	s.Lock()
	siteGit(t, s.Dir, "add", "-A")
	siteGit(t, s.Dir, "commit", "-q", "-m", "site")
	commit := siteGit(t, s.Dir, "rev-parse", "HEAD")
	if code, _, errOut := graft(t, "build", "-C", s.Dir); code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	code, sbom, errOut := graft(t, "sbom", "oci-layout://"+filepath.Join(s.Dir, "out/image"))
	if code != 0 {
		t.Fatalf("sbom: %s", errOut)
	}
	file := filepath.Join(t.TempDir(), "sbom.spdx.json")
	if err := os.WriteFile(file, []byte(sbom), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(syft, "convert", file, "-o", "cyclonedx-json", "-q")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "SYFT_CHECK_FOR_APP_UPDATE=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft convert: %v\n%s", err, out)
	}
	var bom struct {
		Components []struct {
			Name     string `json:"name"`
			PURL     string `json:"purl"`
			Licenses []struct {
				License struct {
					ID string `json:"id"`
				} `json:"license"`
				Expression string `json:"expression"`
			} `json:"licenses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &bom); err != nil {
		t.Fatalf("CycloneDX: %v\n%s", err, out)
	}
	licences, purls := map[string]string{}, map[string]string{}
	for _, c := range bom.Components {
		for _, l := range c.Licenses {
			licences[c.Name] += l.License.ID + l.Expression
		}
		purls[c.Name] = c.PURL
	}
	if licences["aspace_ecl"] != "ECL-2.0" || licences["gpl_plugin"] != "GPL-3.0-or-later" {
		t.Errorf("licences after syft convert: %v", licences)
	}
	if p := purls["cam"]; !strings.Contains(p, commit) || !strings.Contains(p, "git.example.org%2Funi%2Fsite.git") || !strings.HasSuffix(p, "#plugins/cam/files") {
		t.Errorf("local plugin purl after syft convert: %q", p)
	}
}
