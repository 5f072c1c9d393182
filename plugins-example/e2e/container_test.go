package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/plugins-example/demo/app"
)

// stopGrace is the grace period given to `docker stop`; the launcher's own GRAFT_STOP_TIMEOUT
// is shorter so it always finishes first.
const stopGrace = 30 * time.Second

// TestAllInOneContainer: the image graft built, run as one container serving every component,
// becomes healthy, writes a port file per component, serves its plugins (hook ran, secret
// arrived), and stops on `docker stop` within the grace period with exit 0 or 143.
func TestAllInOneContainer(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	name := runAllInOne(t, ctx, f, f.id+"-aio", f.v1)

	for comp, port := range app.DefaultPorts {
		got := mustDocker(t, ctx, "exec", name, "/bin/cat", "/run/graft/ports/"+comp+".port")
		if got != strconv.Itoa(port) {
			t.Errorf("port file of %s holds %q, want %d", comp, got, port)
		}
	}
	frontend := hostPort(t, ctx, name, "8080")
	var stamp struct{ Status string }
	getJSON(t, "http://"+frontend+"/plugins/stamp", &stamp)
	if !strings.HasPrefix(stamp.Status, "stamped by the start hook as uid 1000") {
		t.Errorf("start hook status = %q", stamp.Status)
	}
	var greeting struct{ Config map[string]string }
	getJSON(t, "http://"+frontend+"/plugins/greeting", &greeting)
	if want := app.Fingerprint(f.secrets["greeting_shared_secret"]); greeting.Config["setting.greeting_shared_secret"] != want {
		t.Errorf("greeting secret fingerprint = %v, want %s (the *_FILE secret did not arrive)", greeting.Config, want)
	}
	health := "http://" + hostPort(t, ctx, name, "9090")
	for _, probe := range []string{"/startupz", "/readyz", "/livez"} {
		var body struct {
			Status     string
			Components map[string]string
		}
		getJSON(t, health+probe, &body)
		if body.Status != "ok" || (probe != "/livez" && len(body.Components) != len(app.DefaultPorts)) {
			t.Errorf("GRAFT_HEALTH_ADDR %s = %+v; want ok for all %d components", probe, body, len(app.DefaultPorts))
		}
	}

	checkSecretsHidden(t, ctx, f, "container "+name, []string{"inspect", name}, []string{"logs", name},
		[]string{"exec", name, "/usr/local/bin/graft-launcher", "config"})

	stopStart := time.Now()
	mustDocker(t, ctx, "stop", "-t", strconv.Itoa(int(stopGrace.Seconds())), name)
	took := time.Since(stopStart)
	code := mustDocker(t, ctx, "inspect", "--format", "{{.State.ExitCode}}", name)
	t.Logf("docker stop took %s, exit code %s", took.Round(time.Millisecond), code)
	if code != "0" && code != "143" {
		t.Errorf("exit code after docker stop = %s, want 0 or 143", code)
	}
	if took >= stopGrace {
		t.Errorf("docker stop took %s: the grace period ran out (SIGKILL)", took)
	}
}

// runAllInOne starts image as one container serving every component, with the secrets as
// read-only files (*_FILE), the launcher's health endpoint on 9090, and ports 8080 and 9090
// published on 127.0.0.1; it waits until `docker inspect` says healthy.
func runAllInOne(t *testing.T, ctx context.Context, f *fixture, name, image string) string {
	t.Helper()
	args := []string{"run", "-d", "--name", name, "--stop-timeout", strconv.Itoa(int(stopGrace.Seconds())),
		"--health-interval", "1s", "--health-retries", "3", "-e", "GRAFT_HEALTH_ADDR=:9090",
		"-e", "GRAFT_STOP_TIMEOUT=20s", "-p", "127.0.0.1::8080", "-p", "127.0.0.1::9090"}
	for file, env := range map[string]string{"app_secret_key": "APP_SECRET_KEY", "greeting_shared_secret": "GREETING_SHARED_SECRET"} {
		args = append(args, "-v", filepath.Join(f.secretsDir, file)+":/run/secrets/"+file+":ro",
			"-e", env+"_FILE=/run/secrets/"+file)
	}
	mustDocker(t, ctx, append(args, image)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", name).Run() })
	start := time.Now()
	if err := waitHealthy(ctx, name, 90*time.Second); err != nil {
		logs, _ := docker(ctx, "logs", name)
		t.Fatalf("%v\n%s", err, logs)
	}
	t.Logf("%s healthy in docker inspect after %s", name, time.Since(start).Round(time.Millisecond))
	return name
}

// TestImageHoldsNoSecret: the secrets given to the containers are nowhere in the image graft
// built (every layer and the config, read from `docker save`).
func TestImageHoldsNoSecret(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "save", f.v1)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found, n, err := scanImageTar(out, secretValues(f))
	cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("docker save gave no files to scan")
	}
	if len(found) > 0 {
		t.Errorf("secrets found in the image: %v", found)
	}
	t.Logf("scanned %d files of %s: no secret", n, f.v1)
}

func secretValues(f *fixture) []string {
	var v []string
	for _, s := range f.secrets {
		v = append(v, s)
	}
	return v
}

// checkSecretsHidden runs each docker command and fails if its output holds a secret value.
func checkSecretsHidden(t *testing.T, ctx context.Context, f *fixture, what string, cmds ...[]string) {
	t.Helper()
	for _, args := range cmds {
		out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
		if err != nil {
			t.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
			continue
		}
		for name, value := range f.secrets {
			if strings.Contains(string(out), value) {
				t.Errorf("%s: secret %s appears in `docker %s`", what, name, strings.Join(args, " "))
			}
		}
	}
}

func waitHealthy(ctx context.Context, name string, limit time.Duration) error {
	return waitFor(ctx, limit, 250*time.Millisecond, "container "+name+" healthy", func() (bool, error) {
		out, err := docker(ctx, "inspect", "--format", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name)
		state := strings.TrimSpace(out)
		switch {
		case err != nil:
			return false, err
		case strings.HasPrefix(state, "exited"), strings.HasPrefix(state, "dead"):
			return false, fmt.Errorf("stopped during startup (%s)", state)
		}
		return state == "running healthy", nil
	})
}

func hostPort(t *testing.T, ctx context.Context, name, port string) string {
	t.Helper()
	out := mustDocker(t, ctx, "port", name, port)
	return strings.TrimSpace(strings.Split(out, "\n")[0])
}

func getJSON(t *testing.T, url string, into any) http.Header {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return resp.Header
}
