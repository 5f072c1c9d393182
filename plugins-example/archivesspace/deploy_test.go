// Package archivesspace holds no code: its tests check that this site repository is deployable.
// The compose and swarm files are loaded with compose-go (the loader Docker Compose uses) and
// checked against the site's own definitions (every required setting given, every secret as a
// file); the site locks and builds against a base with the ArchivesSpace image's layout.
package archivesspace

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/deploycheck"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
)

// The ArchivesSpace services of both files and the components they serve.
var aspaceServices = map[string]int{"backend": 3, "frontend": 3, "public": 3, "indexer": 1}

const migrateCommand = "exec -- /archivesspace/scripts/setup-database.sh"

// siteDir is this folder (go test runs in it).
func siteDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// makeSecrets runs deploy/secrets/make-secrets.sh into a new folder, as a site maintainer would.
func makeSecrets(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no openssl under CI=true: .ci/run installs it")
		}
		t.Skip("no openssl for make-secrets.sh's self-signed SAML pair")
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	cmd := exec.Command("sh", filepath.Join(siteDir(t), "deploy", "secrets", "make-secrets.sh"))
	cmd.Env = append(os.Environ(), "SECRETS_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	return dir
}

func loadCompose(t *testing.T, file, secrets string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(siteDir(t), "deploy", file)},
		cli.WithName("aspace"), cli.WithWorkingDirectory(filepath.Join(siteDir(t), "deploy")),
		cli.WithEnv([]string{"SECRETS_DIR=" + secrets, "IMAGE=registry.test/lib/archivesspace:v1"}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("compose-go: %s: %v", file, err)
	}
	return p
}

// siteContract is the runtime contract this site's definitions give its image.
func siteContract(t *testing.T) *imagecontract.Contract {
	t.Helper()
	p, err := lockfile.Load(siteDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return p.Contract().WithImageConfig(v1.Config{Healthcheck: builder.Healthcheck(p.Site)})
}

// TestComposeAndStack loads compose.yaml and stack.yml with compose-go and checks what a
// deployment of this site needs: MySQL, Solr, the migration job through graft-launcher exec,
// 3 replicas of backend, frontend and public, the launcher's healthcheck with the JVM's start
// period, every secret as a file made by make-secrets.sh, and graft check-deploy's verdict
// (deploycheck): every required setting given, secrets only as files, components that exist.
func TestComposeAndStack(t *testing.T) {
	secrets := makeSecrets(t)
	contract := siteContract(t)
	for _, file := range []string{"compose.yaml", "stack.yml"} {
		t.Run(file, func(t *testing.T) {
			p := loadCompose(t, file, secrets)
			names := p.ServiceNames()
			slices.Sort(names)
			if want := []string{"backend", "db", "frontend", "indexer", "migrate", "public", "solr"}; !slices.Equal(names, want) {
				t.Fatalf("services %v, want %v", names, want)
			}
			for name, s := range p.Secrets {
				if fi, err := os.Stat(s.File); err != nil || !fi.Mode().IsRegular() || filepath.Dir(s.File) != secrets {
					t.Errorf("secret %s: file %s not made by make-secrets.sh (%v)", name, s.File, err)
				}
			}
			var run []types.ServiceConfig
			for _, name := range []string{"backend", "frontend", "indexer", "migrate", "public"} {
				run = append(run, p.Services[name])
			}
			rep := deploycheck.Check(run, contract)
			if !rep.OK() || len(rep.Notes) > 0 || len(rep.Services) != 5 {
				t.Errorf("check-deploy: problems %v, notes %v", rep.Problems, rep.Notes)
			}
			for name, replicas := range aspaceServices {
				s := p.Services[name]
				checkAspaceService(t, s)
				if got := s.GetScale(); got != replicas {
					t.Errorf("%s: %d replicas, want %d", name, got, replicas)
				}
				if got := env(s, "GRAFT_COMPONENTS"); got != name {
					t.Errorf("%s: GRAFT_COMPONENTS=%q", name, got)
				}
				checkHealth(t, s)
			}
			m := p.Services["migrate"]
			checkAspaceService(t, m)
			if got := strings.Join(m.Command, " "); got != migrateCommand {
				t.Errorf("migrate: command %q, want %q", got, migrateCommand)
			}
			if file == "compose.yaml" {
				checkComposeOrder(t, p)
			} else {
				checkSwarm(t, p)
			}
		})
	}
}

// checkAspaceService: the image follows IMAGE (the settings are deploycheck's).
func checkAspaceService(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	if s.Image != "registry.test/lib/archivesspace:v1" {
		t.Errorf("%s: image %q does not follow IMAGE", s.Name, s.Image)
	}
}

func checkHealth(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	h := s.HealthCheck
	if h == nil || strings.Join(h.Test, " ") != "CMD /usr/local/bin/graft-launcher healthcheck" {
		t.Errorf("%s: healthcheck %+v, want graft-launcher healthcheck", s.Name, h)
		return
	}
	if h.StartPeriod == nil || time.Duration(*h.StartPeriod) < 5*time.Minute {
		t.Errorf("%s: start_period %v: give the JVM's start (>= 5m)", s.Name, h.StartPeriod)
	}
	startup, err := time.ParseDuration(env(s, "GRAFT_STARTUP_TIMEOUT"))
	if err != nil || h.StartPeriod != nil && startup < time.Duration(*h.StartPeriod) {
		t.Errorf("%s: GRAFT_STARTUP_TIMEOUT %q shorter than start_period", s.Name, env(s, "GRAFT_STARTUP_TIMEOUT"))
	}
}

// checkComposeOrder: the databases are healthy before the migration, and the migration has
// succeeded before any ArchivesSpace service starts.
func checkComposeOrder(t *testing.T, p *types.Project) {
	t.Helper()
	if got := p.Services["migrate"].DependsOn["db"].Condition; got != types.ServiceConditionHealthy {
		t.Errorf("migrate depends on db: %q", got)
	}
	if p.Services["migrate"].Restart != "no" {
		t.Errorf("migrate restarts: %q", p.Services["migrate"].Restart)
	}
	for name := range aspaceServices {
		deps := p.Services[name].DependsOn
		if deps["migrate"].Condition != types.ServiceConditionCompletedSuccessfully || deps["solr"].Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %+v: want migrate completed and solr healthy", name, deps)
		}
	}
	for _, db := range []string{"db", "solr"} {
		if h := p.Services[db].HealthCheck; h == nil || len(h.Test) == 0 {
			t.Errorf("%s has no healthcheck", db)
		}
	}
}

// checkSwarm: the migration is a swarm job; updates start the new task first, wait past the
// JVM's start period and roll back on failure.
func checkSwarm(t *testing.T, p *types.Project) {
	t.Helper()
	if d := p.Services["migrate"].Deploy; d == nil || d.Mode != "replicated-job" {
		t.Errorf("migrate: deploy %+v, want mode replicated-job", d)
	}
	for name := range aspaceServices {
		s := p.Services[name]
		u := s.Deploy.UpdateConfig
		if u == nil || u.Order != "start-first" || u.FailureAction != "rollback" ||
			time.Duration(u.Monitor) <= time.Duration(*s.HealthCheck.StartPeriod) {
			t.Errorf("%s: update_config %+v: want start-first, rollback, monitor > start_period", name, u)
		}
	}
}

func env(s types.ServiceConfig, key string) string {
	if v := s.Environment[key]; v != nil {
		return *v
	}
	return ""
}

// TestDockerCLIAcceptsFiles: the CLIs a site runs accept the files too (docker-compose 1.x's
// own schema, and `docker stack config`'s swarm schema, which compose-go does not check).
func TestDockerCLIAcceptsFiles(t *testing.T) {
	secrets := makeSecrets(t)
	deploy := filepath.Join(siteDir(t), "deploy")
	for _, c := range [][]string{
		{"docker-compose", "-f", "compose.yaml", "config", "--quiet"},
		{"docker", "stack", "config", "-c", "stack.yml"},
	} {
		if _, err := exec.LookPath(c[0]); err != nil {
			t.Logf("no %s: not checked", c[0])
			continue
		}
		if c[0] == "docker" && exec.Command("docker", "stack", "config", "--help").Run() != nil {
			t.Log("docker CLI without `stack config`: not checked")
			continue
		}
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = deploy
		cmd.Env = append(os.Environ(), "SECRETS_DIR="+secrets)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}
