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

// The real syft converts graft's SPDX to CycloneDX keeping the plugins' licences (current
// SPDX ids, ECL-2.0 recognised from the ArchivesSpace notice) and the local plugin's package
// URL naming the site repository, its commit and the folder.
func TestSyftConvertsSBOM(t *testing.T) {
	syft := tooltest.Require(t, tooltest.Syft)
	gittest.RequireGit(t)
	buildEnv(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("aspace_ecl", map[string]string{"COPYING": buildtest.ECLNotice, "a.rb": "a"}, "")
	s.Plugin("gpl_plugin", map[string]string{"COPYING": buildtest.GPLLaterNotice, "g.rb": "g"}, "")
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
