package attest_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/gittest"
)

// git runs git in the site repository and returns its output, trimmed.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(gittest.Git(t, dir, args...))
}

type localDocs struct {
	pkg  struct{ Version, Download, SourceInfo, PURL string }
	dep  attest.ResourceDesc
	sbom []byte
}

// localDocuments are the SBOM package and the provenance dependency of local plugin cam.
func localDocuments(t *testing.T, in *attest.Input) localDocs {
	t.Helper()
	sbom, err := attest.SBOM(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDoc
	if err := json.Unmarshal(sbom, &doc); err != nil {
		t.Fatal(err)
	}
	var out localDocs
	out.sbom = sbom
	for _, p := range doc.Packages {
		if p.Name == "cam" {
			out.pkg.Version, out.pkg.Download, out.pkg.SourceInfo = p.Version, p.DownloadLocation, p.SourceInfo
			out.pkg.PURL = p.ExternalRefs[0].Locator
		}
	}
	raw, err := attest.ProvenanceStatement(in)
	if err != nil {
		t.Fatal(err)
	}
	var st attest.Statement
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Predicate.BuildDefinition.ResolvedDependencies {
		if d.Name == "plugin cam" {
			out.dep = d
		}
	}
	return out
}

// A plugin kept in the site repository is named in the SBOM and provenance by the site
// repository's remote (without credentials), the folder, its tree and the commit that holds
// it, which does not move with unrelated commits; uncommitted changes say so.
func TestLocalPluginNamesSiteRepository(t *testing.T) {
	gittest.RequireGit(t)
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.WriteFile("plugins/cam/plugin.toml", "[source]\nlocal = \"files\"\n")
	s.WriteFile("plugins/cam/files/frontend/locales/en.yml", "en:\n  hello: Cambridge\n")
	git(t, s.Dir, "init", "-q", "-b", "main")
	git(t, s.Dir, "remote", "add", "origin", "https://ci:s3cr3t-token@git.example.org/uni/site.git")
	p := s.Lock()
	git(t, s.Dir, "add", "-A")
	git(t, s.Dir, "commit", "-q", "-m", "cam")
	holding := git(t, s.Dir, "rev-parse", "HEAD")
	s.WriteFile("README.md", "unrelated\n")
	git(t, s.Dir, "add", "-A")
	git(t, s.Dir, "commit", "-q", "-m", "readme")

	tree := p.PluginLock("cam").Tree
	d := localDocuments(t, inputs(t, p))
	wantLoc := "git+https://git.example.org/uni/site.git@" + holding + "#plugins/cam/files"
	if d.pkg.Version != tree || d.pkg.Download != wantLoc ||
		d.pkg.PURL != "pkg:generic/cam@"+tree+"?vcs_url=git%2Bhttps%3A%2F%2Fgit.example.org%2Funi%2Fsite.git%40"+holding+"#plugins/cam/files" ||
		!strings.Contains(d.pkg.SourceInfo, "folder plugins/cam/files of the site repository https://git.example.org/uni/site.git, tree "+tree+", commit "+holding) {
		t.Errorf("SBOM package %+v", d.pkg)
	}
	if d.dep.URI != wantLoc || d.dep.Digest["gitTree"] != tree || d.dep.Digest["gitCommit"] != holding ||
		d.dep.Annotations["folder"] != "plugins/cam/files" || d.dep.Annotations["kind"] != "local" {
		t.Errorf("provenance dependency %+v", d.dep)
	}
	for _, bad := range []string{"s3cr3t", "git+@", "git%2B%40"} {
		if bytes.Contains(d.sbom, []byte(bad)) {
			t.Errorf("the SBOM holds %q", bad)
		}
	}

	// The folder changed and locked, not committed: no commit holds it.
	s.WriteFile("plugins/cam/files/frontend/locales/en.yml", "en:\n  hello: Cambridge 2\n")
	p = s.Lock()
	d = localDocuments(t, inputs(t, p))
	if d.pkg.Download != "NOASSERTION" || !strings.Contains(d.pkg.SourceInfo, "not in a commit as locked") ||
		d.dep.URI != "" || d.dep.Digest["gitCommit"] != "" || d.dep.Digest["gitTree"] != p.PluginLock("cam").Tree {
		t.Errorf("uncommitted: package %+v dependency %+v", d.pkg, d.dep)
	}
}

// The documents name the image by the -t name's repository (not graft.toml's name); licences
// outside the SPDX list are LicenseRef- ids the document describes, and it stays valid SPDX.
func TestDocumentsNameTheTaggedImage(t *testing.T) {
	p := site(t).Load()
	in := inputs(t, p, attest.WithName("registry.example.org/lib/site:v3"))
	in.Licenses["alpha"] = "LicenseRef-CommonsClause AND MIT"
	sbom, err := attest.SBOM(in)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := spdxjson.Read(bytes.NewReader(sbom))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(parsed); err != nil {
		t.Errorf("invalid SPDX: %v", err)
	}
	if parsed.DocumentName != "registry.example.org/lib/site@"+in.Result.Digest.String() || parsed.Packages[0].PackageName != "registry.example.org/lib/site" {
		t.Errorf("document %q, image package %q", parsed.DocumentName, parsed.Packages[0].PackageName)
	}
	if len(parsed.OtherLicenses) != 1 || parsed.OtherLicenses[0].LicenseIdentifier != "LicenseRef-CommonsClause" {
		t.Errorf("other licences %+v", parsed.OtherLicenses)
	}
	for _, doc := range []func(*attest.Input) ([]byte, error){attest.ProvenanceStatement,
		func(in *attest.Input) ([]byte, error) { return attest.SBOMStatement(in, sbom) }} {
		raw, err := doc(in)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Subject       []attest.Subject `json:"subject"`
			PredicateType string           `json:"predicateType"`
		}
		if err := json.Unmarshal(raw, &st); err != nil || len(st.Subject) != 1 || st.Subject[0].Name != "registry.example.org/lib/site" ||
			st.Subject[0].Digest["sha256"] != in.Result.Digest.Hex {
			t.Errorf("%s statement subject %+v (%v)", st.PredicateType, st.Subject, err)
		}
	}
	// Without -t: graft.toml's name.
	if plain := inputs(t, p); plain.Name != "registry.test/lib/app" {
		t.Errorf("name without -t: %q", plain.Name)
	}
}
