package lockfile

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// Source types, as Source.Type names them.
const (
	TypeGit   = "git"
	TypeLocal = "local"
	TypeURL   = "url"
	TypeMaven = "maven"
	TypeOCI   = "oci"
)

// Type is which kind of source s is: git, local, url, maven or oci.
func (s Source) Type() string {
	switch {
	case s.Local != "":
		return TypeLocal
	case s.URL != "":
		return TypeURL
	case s.Maven != "":
		return TypeMaven
	case s.OCI != "":
		return TypeOCI
	}
	return TypeGit
}

// DefaultMavenRepository is where maven sources are fetched from without source.repository.
const DefaultMavenRepository = "https://repo.maven.apache.org/maven2"

// VersionPlaceholder in source.url is replaced by source.version.
const VersionPlaceholder = "{version}"

// MaxStrip bounds source.strip.
const MaxStrip = 32

var (
	sha256HexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	mavenPartRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
)

// validateSource checks [source]: exactly one of git, local, url, maven, oci, and only the keys
// that mean something for it.
func validateSource(p *problems, s *Source) {
	var set []string
	for _, k := range []struct{ key, value string }{{"git", s.Git}, {"local", s.Local}, {"url", s.URL}, {"maven", s.Maven}, {"oci", s.OCI}} {
		if k.value != "" {
			set = append(set, k.key)
		}
	}
	if len(set) > 1 {
		for _, k := range set[1:] {
			p.add("source."+k, "source", "not allowed with %s: a plugin has one source; keep one of git, local, url, maven or oci", set[0])
		}
		return
	}
	switch s.Type() {
	case TypeLocal:
		validateLocal(p, s)
	case TypeGit:
		validateGit(p, s)
	default:
		validateArtifact(p, s)
	}
	typ := s.Type()
	only := func(key string, isSet bool, types ...string) {
		for _, t := range types {
			if t == typ {
				return
			}
		}
		if isSet {
			p.add("source."+key, "source", "means something only for a %s source, not for %s; remove it", strings.Join(types, " or "), typ)
		}
	}
	only("version", s.Version != "", TypeURL)
	only("versions", s.Versions != (Versions{}), TypeURL)
	only("sha256", s.SHA256 != "", TypeURL)
	only("repository", s.Repository != "", TypeMaven)
	only("strip", s.Strip != 0, TypeURL, TypeMaven, TypeOCI)
	only("extract", s.Extract != nil, TypeURL, TypeMaven)
}

func validateGit(p *problems, s *Source) {
	switch {
	case s.Git == "":
		p.add("source.git", "source", `missing; set git = "https://host/repo.git" (or ssh, file:// or a local path) under [source], `+
			`or local = "folder" for files kept in the site repository, or url, maven or oci`)
	default:
		if err := gitremote.Check(s.Git); err != nil {
			p.add("source.git", "source", "%q: %v", gitremote.Redact(s.Git), err)
		}
	}
	ref := s.Ref
	if IsTemplate(ref) {
		rendered, err := renderSample(ref)
		if err != nil {
			p.add("source.ref", "source", "%q: %v", ref, err)
			return
		}
		ref = rendered
	}
	switch {
	case s.Ref == "":
		p.add("source.ref", "source", `missing; set ref = "a branch, tag or full 40-character commit SHA" under [source]`)
	case strings.ContainsAny(ref, " \t\n~^:?*[\\") || strings.Contains(ref, "..") || strings.HasPrefix(ref, "-"):
		p.add("source.ref", "source", "%q is not a valid git ref name; give a branch, tag or full commit SHA", s.Ref)
	}
	if msg := checkRelPath(s.Path); msg != "" {
		p.add("source.path", "source", "%q %s; give a folder inside the repository, e.g. \"plugin\"", s.Path, msg)
	}
}

// validateArtifact checks a url, maven or oci source.
func validateArtifact(p *problems, s *Source) {
	switch s.Type() {
	case TypeURL:
		validateURLSource(p, s)
	case TypeMaven:
		validateMaven(p, s)
	case TypeOCI:
		validateOCI(p, s)
	}
	if s.Ref != "" {
		p.add("source.ref", "source", "means something only for a git source; a %s source is pinned by its content (graft lock records its sha256): remove it", s.Type())
	}
	if msg := checkRelPath(s.Path); msg != "" {
		p.add("source.path", "source", "%q %s; give a folder inside the archive or artifact, e.g. \"plugin\"", s.Path, msg)
	}
	if s.Strip < 0 || s.Strip > MaxStrip {
		p.add("source.strip", "source", "%d: give how many leading folders of each archive entry to drop, 0 to %d", s.Strip, MaxStrip)
	}
	if s.Extract != nil && !*s.Extract && (s.Path != "" || s.Strip != 0) {
		p.add("source.extract", "source", "is false, but path or strip pick files inside an archive; remove them or unpack the file (extract = true)")
	}
}

func validateURLSource(p *problems, s *Source) {
	u := s.URL
	if IsTemplate(u) {
		rendered, err := renderSample(u)
		if err != nil {
			p.add("source.url", "source", "%q: %v", gitremote.Redact(u), err)
			return
		}
		u = rendered
	}
	has := strings.Contains(u, VersionPlaceholder)
	if err := checkHTTPURL(strings.ReplaceAll(u, VersionPlaceholder, "1.0")); err != nil {
		p.add("source.url", "source", "%q: %v", gitremote.Redact(s.URL), err)
	}
	switch {
	case has && s.Version == "":
		p.add("source.version", "source", `missing: url has {version}; set version = "1.2.3" (the version to lock)`)
	case !has && s.Version != "":
		p.add("source.version", "source", "is set but url has no {version} to fill; put {version} into url or remove version")
	case s.Version != "" && !versionValueRE.MatchString(s.Version):
		p.add("source.version", "source", "%q: use letters, digits, '.', '_', '+' or '-'", s.Version)
	}
	v := s.Versions
	switch {
	case v.Git != "" && v.Maven != "":
		p.add("source.versions", "source", "give one of git or maven, not both")
	case v != (Versions{}) && !has:
		p.add("source.versions", "source", "lists versions to fill url's {version}, but url has none; remove versions or use {version} in url")
	case v.Git != "":
		if err := gitremote.Check(v.Git); err != nil {
			p.add("source.versions.git", "source.versions", "%q: %v", gitremote.Redact(v.Git), err)
		}
	case v.Maven != "":
		if err := checkHTTPURL(v.Maven); err != nil {
			p.add("source.versions.maven", "source.versions", "%q: %v; give the URL of a maven-metadata.xml", gitremote.Redact(v.Maven), err)
		}
	}
	if s.SHA256 != "" && !sha256HexRE.MatchString(s.SHA256) {
		p.add("source.sha256", "source", "%q is not a sha256 in lower-case hex (64 characters); write what `sha256sum FILE` prints", s.SHA256)
	}
}

var versionValueRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

// checkHTTPURL says what is wrong with an http(s) URL of a file, or nil.
func checkHTTPURL(u string) error {
	if strings.ContainsAny(u, " \t\r\n") {
		return fmt.Errorf("contains white space; remove it")
	}
	parsed, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("not a valid URL")
	case parsed.Scheme != "https" && parsed.Scheme != "http":
		return fmt.Errorf("scheme %q is not supported; use https:// (or http://)", parsed.Scheme)
	case parsed.Host == "":
		return fmt.Errorf("no host after %s://", parsed.Scheme)
	}
	return nil
}

func validateMaven(p *problems, s *Source) {
	coord := s.Maven
	if IsTemplate(coord) {
		rendered, err := renderSample(coord)
		if err != nil {
			p.add("source.maven", "source", "%q: %v", coord, err)
			return
		}
		coord = rendered
	}
	if _, err := ParseMaven(coord); err != nil {
		p.add("source.maven", "source", "%q: %v", s.Maven, err)
	}
	if s.Repository != "" {
		if err := checkHTTPURL(s.Repository); err != nil {
			p.add("source.repository", "source", "%q: %v; give the repository's root URL, e.g. %q", gitremote.Redact(s.Repository), err, DefaultMavenRepository)
		}
	}
}

func validateOCI(p *problems, s *Source) {
	ref := s.OCI
	if IsTemplate(ref) {
		rendered, err := renderSample(ref)
		if err != nil {
			p.add("source.oci", "source", "%q: %v", ref, err)
			return
		}
		ref = rendered
	}
	switch err := imageref.CheckSyntax(ref); {
	case err != nil:
		p.add("source.oci", "source", "%v", err)
	case !strings.HasPrefix(ref, imageref.LayoutScheme) && (strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") ||
		strings.HasPrefix(ref, "~") || strings.HasSuffix(ref, ".tar")):
		p.add("source.oci", "source", "%q is a path; give a registry reference (host/repo:tag or @sha256:...) or oci-layout://DIR[:tag|@digest]", ref)
	}
}

// Maven is a parsed group:artifact:version[:classifier][@ext].
type Maven struct {
	Group, Artifact, Version, Classifier, Ext string
}

// ParseMaven reads Maven coordinates; Ext defaults to "jar".
func ParseMaven(s string) (Maven, error) {
	coords, ext, hasExt := strings.Cut(s, "@")
	parts := strings.Split(coords, ":")
	if len(parts) < 3 || len(parts) > 4 {
		return Maven{}, fmt.Errorf("write group:artifact:version[:classifier][@ext], e.g. \"com.example:plugin:1.2.3\" or \"com.example:plugin:1.2.3:all@zip\"")
	}
	m := Maven{Group: parts[0], Artifact: parts[1], Version: parts[2], Ext: "jar"}
	if len(parts) == 4 {
		m.Classifier = parts[3]
	}
	if hasExt {
		m.Ext = ext
	}
	for _, f := range []struct{ what, v string }{{"group", m.Group}, {"artifact", m.Artifact}, {"version", m.Version}, {"extension", m.Ext}} {
		if !mavenPartRE.MatchString(f.v) {
			return Maven{}, fmt.Errorf("%s %q: use letters, digits, '.', '_' or '-'", f.what, f.v)
		}
	}
	if m.Classifier != "" && !mavenPartRE.MatchString(m.Classifier) {
		return Maven{}, fmt.Errorf("classifier %q: use letters, digits, '.', '_' or '-'", m.Classifier)
	}
	if strings.HasSuffix(m.Version, "-SNAPSHOT") {
		return Maven{}, fmt.Errorf("version %s is a SNAPSHOT, which changes under the same name; give a release version", m.Version)
	}
	return m, nil
}

// String writes m back as coordinates (the extension only when it is not jar).
func (m Maven) String() string {
	s := m.Group + ":" + m.Artifact + ":" + m.Version
	if m.Classifier != "" {
		s += ":" + m.Classifier
	}
	if m.Ext != "jar" {
		s += "@" + m.Ext
	}
	return s
}

// FileName is the artifact's file name in the repository: artifact-version[-classifier].ext.
func (m Maven) FileName() string {
	name := m.Artifact + "-" + m.Version
	if m.Classifier != "" {
		name += "-" + m.Classifier
	}
	return name + "." + m.Ext
}

// Dir is the artifact's folder in a repository with Maven's layout: group/with/slashes/artifact.
func (m Maven) Dir() string {
	return strings.ReplaceAll(m.Group, ".", "/") + "/" + m.Artifact
}

// URL is the artifact's file under repository root repo.
func (m Maven) URL(repo string) string {
	return strings.TrimSuffix(repo, "/") + "/" + m.Dir() + "/" + m.Version + "/" + m.FileName()
}

// MetadataURL is the artifact's maven-metadata.xml (its versions) under repository root repo.
func (m Maven) MetadataURL(repo string) string {
	return strings.TrimSuffix(repo, "/") + "/" + m.Dir() + "/maven-metadata.xml"
}

// validateInstall checks [install] and what a plugin installed as one file cannot have.
func validateInstall(p *problems, pl *Plugin) {
	in := pl.Install
	switch in.As {
	case "", AsFolder, AsFile:
	default:
		p.add("install.as", "install", "%q: use \"folder\" (plugins_dir/NAME/, the default) or \"file\" (one file, plugins_dir/NAME.EXT)", in.As)
	}
	switch {
	case in.Dest == "":
	case !path.IsAbs(in.Dest):
		p.add("install.dest", "install", "%q is not absolute; give the absolute path in the image, e.g. \"/opt/app/config\"", in.Dest)
	case path.Clean(in.Dest) != in.Dest:
		p.add("install.dest", "install", "%q is not a clean path; write %q", in.Dest, path.Clean(in.Dest))
	case in.Dest == "/":
		p.add("install.dest", "install", "is the image's root; give a folder or file of the plugin's own")
	}
	if in.As == AsFile {
		if len(pl.Launcher.Hooks) > 0 {
			p.add("launcher.hooks", "launcher", "a plugin installed as one file (install.as = \"file\") has no folder to run hooks from; remove them or install it as a folder")
		}
		if len(pl.Launcher.Templates) > 0 {
			p.addAt(entryKey{"launcher.template", 0, "src"}, "a plugin installed as one file (install.as = \"file\") has no folder to hold templates; remove them or install it as a folder")
		}
	}
}
