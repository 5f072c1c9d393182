package lockfile

import (
	"strings"
	"testing"
)

func TestParseNewSourcesValid(t *testing.T) {
	for _, c := range []struct{ data, typ string }{
		{"[source]\nurl = \"https://example.org/dl/x-{version}.tar.gz\"\nversion = \"1.2.3\"\nstrip = 1\npath = \"plugin\"\nsha256 = \"" + strings.Repeat("0a", 32) + "\"\n[source.versions]\ngit = \"https://github.com/x/y.git\"\n", TypeURL},
		{"[source]\nmaven = \"com.example:oauth:3.5.1:all@zip\"\nrepository = \"https://repo.example.org/maven2\"\n[install]\nas = \"file\"\n", TypeMaven},
		{"[source]\noci = \"registry.example.org/plugins/x:1.0\"\n[install]\ndest = \"/opt/app/config\"\nreplace = true\n", TypeOCI},
		{"[source]\ngit = \"https://x/y.git\"\nref = \"REL{{ .Base.Major }}_{{ .Base.Minor }}\"\n[compat]\nbase = \">=1.39, <1.44 || >=2\"\n", TypeGit},
	} {
		pl, err := ParsePlugin("f", "p", []byte(c.data))
		if err != nil {
			t.Fatalf("%s:\n%v", c.data, err)
		}
		if pl.Source.Type() != c.typ {
			t.Errorf("type %s, want %s", pl.Source.Type(), c.typ)
		}
	}
}

func TestParseNewSourcesErrors(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"two sources", "[source]\ngit = \"a\"\nref = \"b\"\nurl = \"https://x/y.jar\"\n", "f:4: source.url: not allowed with git"},
		{"url scheme", "[source]\nurl = \"ftp://x/y.jar\"\n", `f:2: source.url: "ftp://x/y.jar": scheme "ftp" is not supported`},
		{"url creds hidden", "[source]\nurl = \"ftp://me:hunter2@x/y.jar\"\n", `"ftp://x/y.jar"`},
		{"version without placeholder", "[source]\nurl = \"https://x/y.jar\"\nversion = \"1\"\n", "f:3: source.version: is set but url has no {version}"},
		{"placeholder without version", "[source]\nurl = \"https://x/y-{version}.jar\"\n", "f:1: source.version: missing: url has {version}"},
		{"versions both", "[source]\nurl = \"https://x/y-{version}.jar\"\nversion = \"1\"\nversions = { git = \"https://a/b\", maven = \"https://a/m.xml\" }\n", "f:4: source.versions: give one of git or maven"},
		{"bad sha256", "[source]\nurl = \"https://x/y.jar\"\nsha256 = \"ABC\"\n", `f:3: source.sha256: "ABC" is not a sha256 in lower-case hex`},
		{"ref with url", "[source]\nurl = \"https://x/y.jar\"\nref = \"main\"\n", "f:3: source.ref: means something only for a git source"},
		{"strip range", "[source]\nurl = \"https://x/y.zip\"\nstrip = -1\n", "f:3: source.strip: -1"},
		{"extract false with path", "[source]\nurl = \"https://x/y.zip\"\nextract = false\npath = \"a\"\n", "f:3: source.extract: is false, but path or strip"},
		{"maven coords", "[source]\nmaven = \"com.example:oauth\"\n", `f:2: source.maven: "com.example:oauth": write group:artifact:version`},
		{"maven snapshot", "[source]\nmaven = \"com.example:oauth:1.0-SNAPSHOT\"\n", "is a SNAPSHOT"},
		{"repository elsewhere", "[source]\ngit = \"a\"\nref = \"b\"\nrepository = \"https://r\"\n", "f:4: source.repository: means something only for a maven source"},
		{"oci path", "[source]\noci = \"/tmp/x.tar\"\n", "f:2: source.oci: \"/tmp/x.tar\" is a path"},
		{"install as", "[source]\ngit = \"a\"\nref = \"b\"\n[install]\nas = \"dir\"\n", `f:5: install.as: "dir": use "folder"`},
		{"install dest", "[source]\ngit = \"a\"\nref = \"b\"\n[install]\ndest = \"opt/x\"\n", `f:5: install.dest: "opt/x" is not absolute`},
		{"file with hooks", "[source]\ngit = \"a\"\nref = \"b\"\n[install]\nas = \"file\"\n[launcher]\nhooks = [\"x.sh\"]\n", "f:7: launcher.hooks: a plugin installed as one file"},
		{"compat", "[source]\ngit = \"a\"\nref = \"b\"\n[compat]\nbase = \"~> 3\"\n", `f:5: compat.base: "~> 3" is not a constraint`},
		{"template", "[source]\ngit = \"a\"\nref = \"REL{{ .Base.Majr }}\"\n", "f:3: source.ref:"},
		{"template syntax", "[source]\ngit = \"a\"\nref = \"REL{{ .Base.Major \"\n", "unbalanced {{ }}"},
		{"template program", "[source]\ngit = \"a\"\nref = \"{{ range 9999999 }}x{{ end }}\"\n", "{{ range 9999999 }} is not one of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePlugin("f", "p", []byte(c.data))
			if err == nil {
				t.Fatal("no error")
			}
			assertFormatError(t, err)
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error lacks %q (or shows a password):\n%s", c.want, err)
			}
		})
	}
}

func TestParseBaseVersion(t *testing.T) {
	if _, err := ParseSite("graft.toml", []byte("base = \"r/x:1\"\nplugins_dir = \"/p\"\n[base_version]\nenv = \"MW_VERSION\"\n")); err != nil {
		t.Fatal(err)
	}
	_, err := ParseSite("graft.toml", []byte("base = \"r/x:1\"\nplugins_dir = \"/p\"\n[base_version]\nenv = \"1X\"\ntag = true\n"))
	for _, want := range []string{"graft.toml:3: base_version: give one of label, env or tag = true", `graft.toml:4: base_version.env: "1X" is not`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRangesAndVersions(t *testing.T) {
	for _, c := range []struct {
		rng, version string
		want         bool
	}{
		{">=3.5, <5", "3.5", true}, {">=3.5, <5", "4.9.9", true}, {">=3.5, <5", "5.0.0", false}, {">=3.5, <5", "3.4.99", false},
		{"<1.43", "1.42.3-fpm", true}, {"=1.42", "1.42.0", true}, {"1.42", "1.42.1", false}, {"!=2.0", "2.0.0", false},
		{">=1.39, <1.42 || >=1.43", "1.42.5", false}, {">=1.39, <1.42 || >=1.43", "1.43", true}, {"> 2", "v2.0.1", true},
	} {
		r, err := ParseRange(c.rng)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseAppVersion(c.version)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Allows(v); got != c.want {
			t.Errorf("%q allows %q = %v, want %v", c.rng, c.version, got, c.want)
		}
	}
	if _, err := ParseAppVersion("latest"); err == nil {
		t.Error("latest parsed as a version")
	}
	v, _ := ParseAppVersion("1.42.3-fpm")
	for tmpl, want := range map[string]string{"REL{{ .Base.Major }}_{{ .Base.Minor }}": "REL1_42", "stable-{{ .Base.Major }}.{{ .Base.Minor }}": "stable-1.42",
		"{{ .Base.Version }}": "1.42.3-fpm", "v{{ .Base.Patch }}": "v3"} {
		if got, err := Render(tmpl, v); err != nil || got != want {
			t.Errorf("Render(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
}

func TestMavenCoordinates(t *testing.T) {
	m, err := ParseMaven("com.googlesource.gerrit.plugins:oauth:3.5.1:shaded@jar")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.URL(DefaultMavenRepository + "/"); got != "https://repo.maven.apache.org/maven2/com/googlesource/gerrit/plugins/oauth/3.5.1/oauth-3.5.1-shaded.jar" {
		t.Errorf("URL %s", got)
	}
	if m.String() != "com.googlesource.gerrit.plugins:oauth:3.5.1:shaded" || m.MetadataURL("https://r") != "https://r/com/googlesource/gerrit/plugins/oauth/maven-metadata.xml" {
		t.Errorf("String %s, metadata %s", m, m.MetadataURL("https://r"))
	}
}

func TestFileExt(t *testing.T) {
	for name, want := range map[string]string{"oauth-3.5.jar": ".jar", "x.tar.gz": ".tar.gz", "README": "", ".hidden": ""} {
		if got := fileExt(name); got != want {
			t.Errorf("fileExt(%q) = %q, want %q", name, got, want)
		}
	}
}

// A url plugin's archives (zip, tar, gzip- and zstd-compressed tars) are unpacked; a .jar or a
// .war is one file, as Gerrit, Jenkins and Keycloak take them.
func TestArchiveNames(t *testing.T) {
	for name, want := range map[string]bool{"site.zip": true, "site.tar": true, "site.tgz": true, "site-1.0.tar.gz": true,
		"SITE.TAR.GZ": true, "site.tar.zst": true, "site.tzst": true, "oauth.jar": false, "jenkins.war": false,
		"theme.gz": false, "README": false, "zip": false} {
		if got := isArchiveName(name); got != want {
			t.Errorf("isArchiveName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzNewSourceParsers: ranges, versions, Maven coordinates and templates never panic, and what
// they accept reads back the same.
func FuzzNewSourceParsers(f *testing.F) {
	for _, s := range []string{">=3.5, <5", "1.42.3-fpm", "com.example:a:1.0:c@zip", "REL{{ .Base.Major }}_{{ .Base.Minor }}", "|| ,", "{{ call .Base }}"} {
		f.Add(s)
	}
	v, _ := ParseAppVersion("1.42.3")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParseRange(s); err == nil {
			r.Allows(v)
			if r.String() != s {
				t.Fatalf("range %q reads back as %q", s, r)
			}
		}
		if a, err := ParseAppVersion(s); err == nil && a.Version != strings.TrimSpace(s) {
			t.Fatalf("version %q reads back as %q", s, a.Version)
		}
		if m, err := ParseMaven(s); err == nil {
			again, err := ParseMaven(m.String())
			if err != nil || again != m {
				t.Fatalf("coordinates %q -> %q -> %+v, %v", s, m, again, err)
			}
		}
		_, _ = Render(s, v)
	})
}
