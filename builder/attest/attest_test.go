package attest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/builder/attest"
	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/fetch"
	"github.com/graft-build/graft/lockfile"
)

const mitText = `MIT License

Copyright (c) 2024 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`

func site(t *testing.T) *buildtest.Site {
	s := buildtest.NewSite(t, "oci-layout://base", "")
	buildtest.WriteBaseLayout(t, filepath.Join(s.Dir, "base"), "linux/amd64")
	s.Plugin("alpha", map[string]string{"LICENSE": mitText, "a.txt": "alpha"}, "")
	s.Plugin("beta", map[string]string{"lib/b.rb": "beta", "COPYING": "all rights reserved, ask us"}, "")
	s.Lock()
	return s
}

// built builds p for linux/amd64 with fresh caches: the result and the launcher source used.
func built(t *testing.T, p *lockfile.Project) (*contract.Result, contract.LauncherSource) {
	t.Helper()
	src := buildtest.Launchers(t, "amd64")
	res, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(t.TempDir())),
		builder.WithLaunchers(src), builder.WithLayerCache(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	return res, src
}

// inputs builds p with fresh caches and gathers the documents' input with opts.
func inputs(t *testing.T, p *lockfile.Project, opts ...attest.Option) *attest.Input {
	t.Helper()
	res, src := built(t, p)
	in, err := attest.NewInput(p, res, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// documents builds p with a fresh cache and returns its SBOM and provenance.
func documents(t *testing.T, p *lockfile.Project) (*contract.Result, []byte, []byte) {
	t.Helper()
	in := inputs(t, p)
	sbom, err := attest.SBOM(in)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := attest.ProvenanceStatement(in)
	if err != nil {
		t.Fatal(err)
	}
	return in.Result, sbom, prov
}

type spdxDoc struct {
	SPDXVersion       string `json:"spdxVersion"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Creators []string `json:"creators"`
		Created  string   `json:"created"`
	} `json:"creationInfo"`
	Packages []struct {
		Name             string `json:"name"`
		SPDXID           string `json:"SPDXID"`
		Version          string `json:"versionInfo"`
		DownloadLocation string `json:"downloadLocation"`
		SourceInfo       string `json:"sourceInfo"`
		LicenseConcluded string `json:"licenseConcluded"`
		ExternalRefs     []struct {
			Locator string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Relationships []struct {
		A    string `json:"spdxElementId"`
		B    string `json:"relatedSpdxElement"`
		Kind string `json:"relationshipType"`
	} `json:"relationships"`
}

func TestSBOMDescribesBasePluginsAndLauncher(t *testing.T) {
	s := site(t)
	p := s.Load()
	res, sbom, _ := documents(t, p)
	// The SPDX library reads it back and finds it valid (IDs unique, relationships resolve).
	parsed, err := spdxjson.Read(bytes.NewReader(sbom))
	if err != nil {
		t.Fatalf("spdx json reader: %v", err)
	}
	if err := spdxlib.ValidateDocument(parsed); err != nil {
		t.Errorf("spdxlib.ValidateDocument: %v", err)
	}
	var doc spdxDoc
	if err := json.Unmarshal(sbom, &doc); err != nil {
		t.Fatalf("sbom is not JSON: %v\n%s", err, sbom)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DocumentNamespace != attest.NamespacePrefix+"sha256-"+res.Digest.Hex {
		t.Errorf("version %q namespace %q", doc.SPDXVersion, doc.DocumentNamespace)
	}
	if doc.CreationInfo.Created != res.Created.UTC().Format("2006-01-02T15:04:05Z") || len(doc.CreationInfo.Creators) != 1 ||
		!strings.HasPrefix(doc.CreationInfo.Creators[0], "Tool: graft-") {
		t.Errorf("creation info %+v (image created %s)", doc.CreationInfo, res.Created)
	}
	byID := map[string]int{}
	for i, pk := range doc.Packages {
		byID[pk.SPDXID] = i
	}
	base := doc.Packages[byID["SPDXRef-Base"]]
	if base.Name != "oci-layout://base" || base.Version != p.Lock.Base.Digest {
		t.Errorf("base package %+v, lock base %+v", base, p.Lock.Base)
	}
	for name, licence := range map[string]string{"alpha": "MIT", "beta": "NOASSERTION"} {
		i, ok := byID["SPDXRef-Plugin-"+name]
		if !ok {
			t.Fatalf("no package for plugin %s in %s", name, sbom)
		}
		pk, lock := doc.Packages[i], p.PluginLock(name)
		if pk.Version != lock.Commit || pk.LicenseConcluded != licence ||
			!strings.Contains(pk.SourceInfo, "tree "+lock.Tree) || !strings.Contains(pk.SourceInfo, "branch main") ||
			!strings.Contains(pk.SourceInfo, lock.Git) {
			t.Errorf("plugin %s: %+v (lock %+v)", name, pk, lock)
		}
	}
	l, ok := byID["SPDXRef-Launcher-linux-amd64"]
	if !ok {
		t.Fatalf("no launcher package: %s", sbom)
	}
	links := 0
	for _, r := range doc.Relationships {
		if r.A == "SPDXRef-Launcher-linux-amd64" && r.Kind == "STATIC_LINK" {
			links++
		}
	}
	// The launcher uses caarlos0/env and more: its build info lists modules besides the stdlib.
	if links < 2 || !bytes.Contains(sbom, []byte(`"pkg:golang/github.com/caarlos0/env/v11@`)) {
		t.Errorf("launcher %+v has %d linked modules:\n%s", doc.Packages[l], links, sbom)
	}
}

func TestDocumentsAreDeterministic(t *testing.T) {
	s := site(t)
	res1, sbom1, prov1 := documents(t, s.Load())
	// Another checkout of the same site, other caches: the same bytes.
	other := t.TempDir()
	s.CopyTo(other)
	p2, err := lockfile.Load(other)
	if err != nil {
		t.Fatal(err)
	}
	res2, sbom2, prov2 := documents(t, p2)
	if res1.Digest != res2.Digest {
		t.Fatalf("digests differ: %s %s", res1.Digest, res2.Digest)
	}
	if !bytes.Equal(sbom1, sbom2) {
		t.Errorf("SBOM differs between two builds of one lock:\n%s\n%s", sbom1, sbom2)
	}
	if !bytes.Equal(prov1, prov2) {
		t.Errorf("provenance differs between two builds of one lock")
	}
	// A plugin change changes both.
	s.Plugin("beta", map[string]string{"lib/b.rb": "beta 2"}, "")
	s.Lock()
	_, sbom3, prov3 := documents(t, s.Load())
	if bytes.Equal(sbom1, sbom3) || bytes.Equal(prov1, prov3) {
		t.Errorf("documents unchanged after a plugin changed")
	}
}

func TestProvenance(t *testing.T) {
	s := site(t)
	s.Plugin("gamma", map[string]string{"x": "y"}, "[build]\nrun = [\"make\", \"make install\"]\n[[build.secret]]\nid = \"npm\"\nenv = \"NPM_TOKEN\"")
	p := s.Lock()
	// The build step needs BuildKit; the statement is made from the lock and the result alone,
	// so a result of the two other plugins' build stands in.
	src := buildtest.Launchers(t, "amd64")
	res, err := builder.Build(context.Background(), p, builder.WithCache(fetch.NewCache(t.TempDir())),
		builder.WithLaunchers(src), builder.WithStepRunner(copyRunner{}))
	if err != nil {
		t.Fatal(err)
	}
	in, err := attest.NewInput(p, res, src)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := attest.ProvenanceStatement(in)
	if err != nil {
		t.Fatal(err)
	}
	var st attest.Statement
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != attest.StatementType || st.PredicateType != attest.SLSAProvenance ||
		st.Subject[0].Digest["sha256"] != res.Digest.Hex {
		t.Errorf("statement header %+v", st)
	}
	bd := st.Predicate.BuildDefinition
	if "sha256:"+bd.ExternalParameters.Definitions.Digest["sha256"] != p.Lock.Definitions ||
		"sha256:"+bd.ExternalParameters.Lock.Digest["sha256"] != in.LockDigest {
		t.Errorf("build definition %+v", bd.ExternalParameters)
	}
	deps := map[string]attest.ResourceDesc{}
	for _, d := range bd.ResolvedDependencies {
		deps[d.Name] = d
	}
	if "sha256:"+deps["base"].Digest["sha256"] != p.Lock.Base.Digest {
		t.Errorf("base dependency %+v", deps["base"])
	}
	for _, pk := range p.Lock.Plugins {
		d := deps["plugin "+pk.Name]
		if d.Digest["gitCommit"] != pk.Commit || d.URI != "git+"+pk.Git+"@"+pk.Commit {
			t.Errorf("plugin %s dependency %+v", pk.Name, d)
		}
	}
	if len(bd.ExternalParameters.Steps) != 1 || bd.ExternalParameters.Steps[0].Plugin != "gamma" ||
		strings.Join(bd.ExternalParameters.Steps[0].Run, ";") != "make;make install" || bd.ExternalParameters.Steps[0].Secrets[0] != "npm" {
		t.Errorf("steps %+v", bd.ExternalParameters.Steps)
	}
	if st.Predicate.RunDetails.Builder.ID != attest.BuilderID || st.Predicate.RunDetails.Builder.Version["graft"] == "" {
		t.Errorf("builder %+v", st.Predicate.RunDetails.Builder)
	}
}

// copyRunner stands in for BuildKit: the plugin's files unchanged as its layer.
type copyRunner struct{}

func (copyRunner) RunSteps(_ context.Context, r contract.StepRequest) (v1.Layer, error) {
	return tarball.LayerFromOpener(r.PluginTar, tarball.WithMediaType(r.MediaType))
}

// mapCache is a LicenseCache in memory.
type mapCache map[string]string

func (m mapCache) License(id string, detect func() (string, error)) (string, error) {
	if l, ok := m[id]; ok {
		return l, nil
	}
	l, err := detect()
	m[id] = l
	return l, err
}

// Licence verdicts are kept by layer: a second input finds them in the cache instead of reading
// the layers again (what a no-op rebuild of 200 plugins, or a fresh runner, must not pay).
func TestLicenseVerdictsAreCached(t *testing.T) {
	p := site(t).Load()
	res, src := built(t, p)
	cache := mapCache{}
	in, err := attest.NewInput(p, res, src, attest.WithLicenseCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	if in.Licenses["alpha"] != "MIT" || len(cache) != 2 {
		t.Fatalf("licences %v, cache %v: want MIT for alpha and a verdict per plugin layer", in.Licenses, cache)
	}
	// A verdict in the cache wins over the layer: it is what was read.
	for id, l := range cache {
		if l == "MIT" {
			cache[id] = "Apache-2.0"
		}
	}
	again, err := attest.NewInput(p, res, src, attest.WithLicenseCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	if again.Licenses["alpha"] != "Apache-2.0" {
		t.Fatalf("licences %v: the cached verdict was not used", again.Licenses)
	}
}
