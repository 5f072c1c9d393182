package attest

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/version"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/gitremote"
)

const noAssertion = "NOASSERTION"

// NamespacePrefix starts every SBOM's documentNamespace; the image digest completes it, so the
// namespace is unique per image and still the same on every rebuild.
const NamespacePrefix = "https://github.com/graft-build/graft/spdx/"

// SBOM is the image's SPDX 2.3 JSON document. It holds no wall-clock time: created is the
// image's created time (SOURCE_DATE_EPOCH or the newest commit), so the same lock gives the
// same bytes.
func SBOM(in *Input) ([]byte, error) {
	res := in.Result
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      in.Name + "@" + res.Digest.String(),
		DocumentNamespace: NamespacePrefix + res.Digest.Algorithm + "-" + res.Digest.Hex,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "graft-" + version.String()}},
			Created:  res.Created.UTC().Format(time.RFC3339),
		},
	}
	image := &spdx.Package{
		PackageName: in.Name, PackageSPDXIdentifier: "Image", PackageVersion: res.Digest.String(),
		PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "CONTAINER",
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: res.Digest.Hex}},
		PackageLicenseConcluded: noAssertion, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
		PackageComment: "built by graft from graft.lock " + in.LockDigest + " (definitions " + in.Project.Lock.Definitions + ")",
	}
	base := basePackage(in)
	doc.Packages = append(doc.Packages, image, base)
	rel := func(a common.ElementID, kind string, b common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: kind})
	}
	rel("DOCUMENT", "DESCRIBES", image.PackageSPDXIdentifier)
	rel(image.PackageSPDXIdentifier, "DESCENDANT_OF", base.PackageSPDXIdentifier)
	for _, pk := range in.Project.Lock.Plugins {
		p := in.pluginPackage(pk.Name)
		doc.Packages = append(doc.Packages, p)
		rel(image.PackageSPDXIdentifier, "CONTAINS", p.PackageSPDXIdentifier)
	}
	modules := map[string]*spdx.Package{}
	for _, l := range in.Launchers {
		lp, deps, err := launcherPackages(l)
		if err != nil {
			return nil, err
		}
		doc.Packages = append(doc.Packages, lp)
		rel(image.PackageSPDXIdentifier, "CONTAINS", lp.PackageSPDXIdentifier)
		for _, d := range deps {
			if _, seen := modules[string(d.PackageSPDXIdentifier)]; !seen {
				modules[string(d.PackageSPDXIdentifier)] = d
			}
			rel(lp.PackageSPDXIdentifier, "STATIC_LINK", d.PackageSPDXIdentifier)
		}
	}
	doc.OtherLicenses = in.otherLicenses()
	ids := make([]string, 0, len(modules))
	for id := range modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		doc.Packages = append(doc.Packages, modules[id])
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return buf.Bytes(), nil
}

// otherLicenses describes the LicenseRef- licences the plugins' expressions name (licences
// licensecheck knows that are not on the SPDX License List), as SPDX requires.
func (in *Input) otherLicenses() []*spdx.OtherLicense {
	refs := map[string]bool{}
	for _, expr := range in.Licenses {
		for _, id := range licenseIDs(expr) {
			if strings.HasPrefix(id, LicenseRefPrefix) {
				refs[id] = true
			}
		}
	}
	ids := make([]string, 0, len(refs))
	for id := range refs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []*spdx.OtherLicense
	for _, id := range ids {
		name := strings.TrimPrefix(id, LicenseRefPrefix)
		out = append(out, &spdx.OtherLicense{LicenseIdentifier: id, LicenseName: name,
			ExtractedText: "The licence google/licensecheck names " + name + ", which is not on the SPDX License List; " +
				"its text is in the plugin's licence files."})
	}
	return out
}

func basePackage(in *Input) *spdx.Package {
	lock := in.Project.Lock.Base
	p := &spdx.Package{
		PackageName: lock.Ref, PackageSPDXIdentifier: "Base", PackageVersion: lock.Digest,
		PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "CONTAINER",
		PackageLicenseConcluded: noAssertion, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
		PackageSourceInfo: "base image " + lock.Ref + " resolved to " + lock.Digest,
	}
	if algo, hex, ok := strings.Cut(lock.Digest, ":"); ok && algo == "sha256" {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: hex}}
	}
	if purl := ociPURL(lock.Ref, lock.Digest); purl != "" {
		p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl}}
	}
	return p
}

// ociPURL is the package URL of a registry image (pkg:oci/NAME@DIGEST?repository_url=...), ""
// for a layout or tar base.
func ociPURL(ref, digest string) string {
	if strings.Contains(ref, "://") || strings.HasSuffix(ref, ".tar") || strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") {
		return ""
	}
	repo := Repository(ref)
	last := repo[strings.LastIndex(repo, "/")+1:]
	return "pkg:oci/" + last + "@" + url.PathEscape(digest) + "?repository_url=" + url.QueryEscape(repo)
}

func (in *Input) pluginPackage(name string) *spdx.Package {
	pk := in.Project.PluginLock(name)
	licence := in.Licenses[name]
	if licence == "" {
		licence = noAssertion
	}
	if info := in.unlocked(name); info != nil {
		return unlockedPackage(*pk, *info, licence)
	}
	if pk.IsArtifact() {
		return artifactPackage(*pk, licence)
	}
	p := &spdx.Package{
		PackageName: name, PackageSPDXIdentifier: common.ElementID("Plugin-" + spdxID(name)),
		PackageSummary: pk.Title, PrimaryPackagePurpose: "SOURCE",
		PackageLicenseConcluded: licence, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
	}
	if licence != noAssertion {
		p.PackageLicenseInfoFromFiles = licenseIDs(licence)
	}
	if pk.Kind == lockfile.KindLocal {
		in.localPackage(p, pk)
		return p
	}
	git := gitremote.Redact(pk.Git)
	info := []string{fmt.Sprintf("git %s, %s %s, commit %s, tree %s", git, pk.Kind, pk.Ref, pk.Commit, pk.Tree)}
	if pk.Path != "" {
		info = append(info, "path "+pk.Path)
	}
	if len(pk.Tags) > 0 {
		info = append(info, "tags "+strings.Join(pk.Tags, " "))
	}
	p.PackageVersion, p.PackageSourceInfo = pk.Commit, strings.Join(info, "; ")
	p.PackageDownloadLocation = noAssertion
	if networkURL(git) {
		p.PackageDownloadLocation = "git+" + git + "@" + pk.Commit
	}
	p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl",
		Locator: "pkg:generic/" + url.PathEscape(name) + "@" + pk.Commit + "?vcs_url=" + url.QueryEscape("git+"+git+"@"+pk.Commit)}}
	return p
}

// localPackage describes a plugin kept in the site repository: its version is the folder's
// tree (what graft.lock pins); the site repository's remote, the folder and the commit holding
// it (LocalSource) say where to find those files.
func (in *Input) localPackage(p *spdx.Package, pk *lockfile.PluginLock) {
	src := in.Local[pk.Name]
	p.PackageVersion = pk.Tree
	where := "the site repository"
	if src.Repo != "" {
		where += " " + src.Repo
	}
	info := fmt.Sprintf("folder %s of %s, tree %s, ", src.Folder, where, pk.Tree)
	if src.Commit != "" {
		info += "commit " + src.Commit
	} else {
		info += "not in a commit as locked"
	}
	p.PackageSourceInfo = info
	p.PackageDownloadLocation = noAssertion
	if src.Commit != "" && networkURL(src.Repo) {
		p.PackageDownloadLocation = "git+" + src.Repo + "@" + src.Commit + "#" + src.Folder
	}
	purl := "pkg:generic/" + url.PathEscape(pk.Name) + "@" + pk.Tree
	if src.Repo != "" && src.Commit != "" {
		purl += "?vcs_url=" + url.QueryEscape("git+"+src.Repo+"@"+src.Commit)
	}
	p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl",
		Locator: purl + "#" + purlSubpath(src.Folder)}}
}

// purlSubpath escapes each segment of a package URL's subpath.
func purlSubpath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// networkURL reports whether git is a repository a reader elsewhere can reach, for SPDX's VCS
// download location (git+URL@COMMIT); a local path says nothing there, so that is NOASSERTION
// (sourceInfo keeps it).
func networkURL(git string) bool {
	for _, s := range []string{"https://", "http://", "ssh://", "git://"} {
		if strings.HasPrefix(git, s) {
			return true
		}
	}
	return false
}

func launcherPackages(l Launcher) (*spdx.Package, []*spdx.Package, error) {
	lp := &spdx.Package{
		PackageName: "graft-launcher", PackageSPDXIdentifier: common.ElementID("Launcher-" + spdxID(l.Platform)),
		PackageVersion: l.Version, PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "APPLICATION",
		PackageFileName: "/usr/local/bin/graft-launcher", PackageComment: "platform " + l.Platform,
		PackageLicenseConcluded: noAssertion, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
		PackageChecksums: []common.Checksum{{Algorithm: common.SHA256, Value: sha256Hex(l.Binary)}},
	}
	bi, err := buildinfo.Read(bytes.NewReader(l.Binary))
	if err != nil {
		// A launcher without build info (stripped by a custom build) still gets its package.
		lp.PackageComment += "; no Go build info in the binary"
		return lp, nil, nil
	}
	lp.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl",
		Locator: "pkg:golang/" + bi.Path + "@" + l.Version}}
	var deps []*spdx.Package
	std := &spdx.Package{PackageName: "stdlib", PackageSPDXIdentifier: common.ElementID("Go-stdlib-" + spdxID(bi.GoVersion)),
		PackageVersion: bi.GoVersion, PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
		PackageExternalReferences: []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl",
			Locator: "pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go")}}}
	deps = append(deps, std)
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		deps = append(deps, &spdx.Package{PackageName: m.Path,
			PackageSPDXIdentifier: common.ElementID("Go-" + spdxID(m.Path+"-"+m.Version)), PackageVersion: m.Version,
			PackageDownloadLocation: noAssertion, PackageLicenseConcluded: noAssertion, PackageLicenseDeclared: noAssertion,
			PackageCopyrightText: noAssertion, PackageComment: "go.sum " + m.Sum,
			PackageExternalReferences: []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl",
				Locator: "pkg:golang/" + m.Path + "@" + m.Version}}})
	}
	return lp, deps, nil
}

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// spdxID makes s fit an SPDX identifier (letters, digits, '.', '-').
func spdxID(s string) string { return notIDChar.ReplaceAllString(s, "-") }

// artifactPackage is the SBOM package of a url, maven or oci plugin: version and checksum from
// the locked digest, and a purl of its kind (pkg:generic with download_url and checksum,
// pkg:maven, pkg:oci).
func artifactPackage(pk lockfile.PluginLock, licence string) *spdx.Package {
	version, location, purl := pk.Digest, noAssertion, ""
	algo, hexd, _ := strings.Cut(pk.Digest, ":")
	switch pk.Kind {
	case lockfile.KindURL:
		u := gitremote.Redact(pk.URL)
		location = u
		if pk.Version != "" {
			version = pk.Version
		}
		purl = "pkg:generic/" + url.PathEscape(pk.Name) + "@" + url.PathEscape(version) +
			"?checksum=" + url.QueryEscape(algo+":"+hexd) + "&download_url=" + url.QueryEscape(u)
	case lockfile.KindMaven:
		m, _ := lockfile.ParseMaven(pk.Maven)
		location, version = gitremote.Redact(pk.URL), m.Version
		q := url.Values{}
		if m.Ext != "jar" {
			q.Set("type", m.Ext)
		}
		if m.Classifier != "" {
			q.Set("classifier", m.Classifier)
		}
		if repo := strings.TrimSuffix(location, "/"+m.Dir()+"/"+m.Version+"/"+m.FileName()); repo != location && repo != lockfile.DefaultMavenRepository {
			q.Set("repository_url", repo)
		}
		purl = "pkg:maven/" + url.PathEscape(m.Group) + "/" + url.PathEscape(m.Artifact) + "@" + url.PathEscape(m.Version)
		if len(q) > 0 {
			purl += "?" + q.Encode()
		}
	case lockfile.KindOCI:
		purl = ociPURL(pk.OCI, pk.Digest)
		if !strings.Contains(pk.OCI, "://") {
			location = pk.OCI
		}
	}
	info := fmt.Sprintf("%s %s, sha256 %s, unpacked tree %s", pk.Kind, pk.SourceName(), hexd, pk.Tree)
	if pk.Path != "" {
		info += "; path " + pk.Path
	}
	p := &spdx.Package{
		PackageName: pk.Name, PackageSPDXIdentifier: common.ElementID("Plugin-" + spdxID(pk.Name)), PackageVersion: version,
		PackageDownloadLocation: location, PackageSourceInfo: info, PackageSummary: pk.Title, PrimaryPackagePurpose: "LIBRARY",
		PackageLicenseConcluded: licence, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
	}
	if pk.Kind == lockfile.KindOCI {
		p.PrimaryPackagePurpose = "CONTAINER"
	} else if algo == "sha256" {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: hexd}}
	}
	if licence != noAssertion {
		p.PackageLicenseInfoFromFiles = licenseIDs(licence)
	}
	if purl != "" {
		p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: purl}}
	}
	return p
}

// unlocked is plugin name's label entry when it was built with --override, else nil.
func (in *Input) unlocked(name string) *contract.PluginInfo {
	for _, pl := range in.Result.Plugins {
		if pl.Name == name && pl.Unlocked {
			return &pl
		}
	}
	return nil
}

// unlockedPackage is the SBOM package of a plugin built from a working folder (--override):
// no version, location or purl a reader could fetch, and a comment saying so.
func unlockedPackage(pk lockfile.PluginLock, info contract.PluginInfo, licence string) *spdx.Package {
	return &spdx.Package{
		PackageName: pk.Name, PackageSPDXIdentifier: common.ElementID("Plugin-" + spdxID(pk.Name)), PackageVersion: "unlocked",
		PackageDownloadLocation: noAssertion, PackageSourceInfo: "UNLOCKED: built with graft build --override from a working folder (" + info.Tree + "), not from graft.lock",
		PackageComment:          "not reproducible from graft.lock; graft verify fails this image",
		PackageLicenseConcluded: licence, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion, PrimaryPackagePurpose: "SOURCE",
	}
}
