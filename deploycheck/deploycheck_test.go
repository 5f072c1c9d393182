package deploycheck_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/deploycheck"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

const (
	aspace     = "../plugins-example/archivesspace"
	demo       = "../plugins-example/demo/site"
	demoDeploy = "../plugins-example/deploy"
)

// siteContract is the contract a site's definitions give its image, and its name.
func siteContract(t *testing.T, dir string) (*imagecontract.Contract, string) {
	t.Helper()
	p, err := lockfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p.Contract().WithImageConfig(v1.Config{Healthcheck: builder.Healthcheck(p.Site)}), p.Site.Name
}

func check(t *testing.T, site string, files ...string) (*deploycheck.Report, error) {
	t.Helper()
	c, repo := siteContract(t, site)
	p, err := deploycheck.Load(context.Background(), files, nil)
	if err != nil {
		return nil, err
	}
	svcs, err := deploycheck.Services(p, deploycheck.Select{Repository: repo})
	if err != nil {
		return nil, err
	}
	return deploycheck.Check(svcs, c), nil
}

func names(r *deploycheck.Report) string {
	var out []string
	for _, s := range r.Services {
		out = append(out, s.Command+" "+s.Name+"("+strings.Join(s.Components, ",")+")")
	}
	return strings.Join(out, " ")
}

// The examples' compose and stack files give their images what they need.
func TestExamplesPass(t *testing.T) {
	for _, c := range []struct {
		site, services string
		files          []string
	}{
		{aspace, "run backend(backend) run frontend(frontend) run indexer(indexer) exec migrate(backend,frontend,public,oai,indexer) run public(public)", []string{aspace + "/deploy/compose.yaml"}},
		{aspace, "run backend(backend) run frontend(frontend) run indexer(indexer) exec migrate(backend,frontend,public,oai,indexer) run public(public)", []string{aspace + "/deploy/stack.yml"}},
		{demo, "run all-in-one(backend,frontend,public,indexer) run backend(backend) run frontend(frontend) run indexer(indexer) run public(public)", []string{demoDeploy + "/compose.yaml"}},
		{demo, "run backend(backend) run frontend(frontend) run indexer(indexer) run public(public)", []string{demoDeploy + "/stack.yml", demoDeploy + "/stack.mesh.yml"}},
	} {
		r, err := check(t, c.site, c.files...)
		if err != nil {
			t.Fatalf("%v: %v", c.files, err)
		}
		if !r.OK() || names(r) != c.services {
			t.Errorf("%v: services %s\nproblems %+v", c.files, names(r), r.Problems)
		}
	}
}

// edited copies an example's deploy file with replacements applied (each must apply once).
func edited(t *testing.T, file string, pairs ...string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			t.Fatalf("%s: %q found %d times", file, pairs[i], strings.Count(s, pairs[i]))
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func problems(r *deploycheck.Report) string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, p.String())
	}
	return strings.Join(out, "\n")
}

// Each way a deployment of the ArchivesSpace stack can fail at start is found, naming the
// service, its components and the setting.
func TestStackProblems(t *testing.T) {
	stack := aspace + "/deploy/stack.yml"
	for _, c := range []struct {
		name  string
		edits []string
		want  string
	}{
		{"missing required secret", []string{"  ASPACE_OAUTH_SHARED_SECRET_FILE: /run/secrets/oauth_shared_secret\n", ""},
			`service backend (backend): required secret setting oauth_shared_secret is not given: set ASPACE_OAUTH_SHARED_SECRET_FILE to a secret the service mounts (or ASPACE_OAUTH_SHARED_SECRET)
service frontend (frontend): required secret setting oauth_shared_secret is not given: set ASPACE_OAUTH_SHARED_SECRET_FILE to a secret the service mounts (or ASPACE_OAUTH_SHARED_SECRET)
service indexer (indexer): required secret setting oauth_shared_secret is not given: set ASPACE_OAUTH_SHARED_SECRET_FILE to a secret the service mounts (or ASPACE_OAUTH_SHARED_SECRET)
service migrate (exec, backend, frontend, public, oai, indexer): required secret setting oauth_shared_secret is not given: set ASPACE_OAUTH_SHARED_SECRET_FILE to a secret the service mounts (or ASPACE_OAUTH_SHARED_SECRET)
service public (public): required secret setting oauth_shared_secret is not given: set ASPACE_OAUTH_SHARED_SECRET_FILE to a secret the service mounts (or ASPACE_OAUTH_SHARED_SECRET)`},
		{"secret not mounted", []string{"   staff_user_secret, default_admin_password, oauth_shared_secret, oauth_saml_key, oauth_saml_cert]",
			"   staff_user_secret, default_admin_password, oauth_saml_key, oauth_saml_cert]"},
			"service backend (backend): secret setting oauth_shared_secret: ASPACE_OAUTH_SHARED_SECRET_FILE=/run/secrets/oauth_shared_secret, but the service mounts no secret, config or volume there: the launcher cannot read it"},
		{"unknown component", []string{"      GRAFT_COMPONENTS: indexer\n", "      GRAFT_COMPONENTS: indexer,solr\n"},
			`service indexer (indexer, solr): component "solr" is not in the image (it has: backend, frontend, public, oai, indexer): the launcher refuses to start`},
		{"grace shorter than the drain", []string{"  stop_grace_period: 90s\n", "  stop_grace_period: 30s\n"},
			"service backend (backend): stop_grace_period 30s is shorter than GRAFT_STOP_TIMEOUT 1m0s: the engine kills the container before the launcher's drain ends; give a stop_grace_period longer than GRAFT_STOP_TIMEOUT"},
		{"healthcheck disabled", []string{"    start_period: 5m                               # the JVM's start: failures do not count yet\n",
			"    start_period: 5m\n    disable: true\n"},
			"service backend (backend): healthcheck disabled: the image's (CMD /usr/local/bin/graft-launcher healthcheck) is how the engine tells a started component from a failed one, and what a rolling update waits for and rolls back on; remove `disable` (one-off jobs: run them with `exec`)"},
		{"both X and X_FILE", []string{"      ASPACE_JAVA_XMX: -Xmx2g\n", "      ASPACE_JAVA_XMX: -Xmx2g\n      APPCONFIG_DB_URL: jdbc:mysql://db/x\n"},
			"service backend (backend): secret setting db_url: both APPCONFIG_DB_URL and APPCONFIG_DB_URL_FILE are set, which the launcher refuses: keep one"},
		{"not a launcher command", []string{`command: ["exec", "--", "/archivesspace/scripts/setup-database.sh"]`, `command: ["/archivesspace/scripts/setup-database.sh"]`},
			`service migrate (no components): command "/archivesspace/scripts/setup-database.sh" is not one of graft-launcher's (run [COMPONENT...], exec -- CMD [ARG...]): the container exits at start`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := check(t, aspace, edited(t, stack, c.edits...))
			if err != nil {
				t.Fatal(err)
			}
			got := problems(r)
			if c.name == "missing required secret" || c.name == "unknown component" || c.name == "not a launcher command" {
				if got != c.want {
					t.Fatalf("got:\n%s\nwant:\n%s", got, c.want)
				}
				return
			}
			if !strings.Contains(got+"\n", c.want+"\n") {
				t.Fatalf("got:\n%s\nwant a line:\n%s", got, c.want)
			}
		})
	}
}

// In each example's compose and stack files, leaving out the plugin's required secret is a
// problem for every service running the image, naming the service, its components and the
// setting, and nothing else is.
func TestMissingRequiredSecretInEveryExample(t *testing.T) {
	for _, c := range []struct {
		site, setting, line string
		files               []string
	}{
		{aspace, "oauth_shared_secret", "  ASPACE_OAUTH_SHARED_SECRET_FILE: /run/secrets/oauth_shared_secret\n", []string{aspace + "/deploy/compose.yaml"}},
		{aspace, "oauth_shared_secret", "  ASPACE_OAUTH_SHARED_SECRET_FILE: /run/secrets/oauth_shared_secret\n", []string{aspace + "/deploy/stack.yml"}},
		{demo, "greeting_shared_secret", "  GREETING_SHARED_SECRET_FILE: /run/secrets/greeting_shared_secret\n", []string{demoDeploy + "/compose.yaml"}},
		{demo, "greeting_shared_secret", "  GREETING_SHARED_SECRET_FILE: /run/secrets/greeting_shared_secret\n", []string{demoDeploy + "/stack.yml", demoDeploy + "/stack.mesh.yml"}},
	} {
		t.Run(filepath.Base(c.files[0])+" of "+filepath.Base(c.site), func(t *testing.T) {
			files := append([]string{edited(t, c.files[0], c.line, "")}, c.files[1:]...)
			r, err := check(t, c.site, files...)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || len(r.Problems) != len(r.Services) || len(r.Services) < 4 {
				t.Fatalf("%d services, problems:\n%s", len(r.Services), problems(r))
			}
			for i, p := range r.Problems {
				svc := r.Services[i]
				want := "service " + svc.Name + " (" + strings.Join(p.Components, ", ") + "): required secret setting " + c.setting + " is not given: set "
				if p.Service != svc.Name || p.Setting != c.setting || len(p.Components) == 0 || !strings.HasPrefix(p.String(), want) {
					t.Errorf("problem %d: %+v\nwant %q… for service %s (%s)", i, p, want, svc.Name, strings.Join(svc.Components, ","))
				}
			}
		})
	}
}

// A missing or broken file is bad input, naming it; so is a file where no service runs the image.
func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yml")
	os.WriteFile(broken, []byte("services:\n  a: [\n"), 0o644)
	if _, err := deploycheck.Load(context.Background(), []string{broken}, nil); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "broken.yml") {
		t.Fatalf("broken file: %v", err)
	}
	other := filepath.Join(dir, "other.yml")
	os.WriteFile(other, []byte("services:\n  db:\n    image: mysql:8.0\n"), 0o644)
	p, err := deploycheck.Load(context.Background(), []string{other}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploycheck.Services(p, deploycheck.Select{Repository: "registry.example.edu/library/archivesspace"}); err == nil || !usererr.Is(err) ||
		err.Error() != "no service runs registry.example.edu/library/archivesspace (services: db); give the image as it is named in the files, or --service NAME" {
		t.Fatalf("no service: %v", err)
	}
}
