package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestComposeSplit runs plugins-example/deploy/compose.yaml's split profile: one container per
// component from the same image; the UIs reach the backend by service name, and state written
// through the backend is read through the public UI (one shared volume).
func TestComposeSplit(t *testing.T) {
	f := setup(t)
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose not installed (Debian package docker-compose): compose.yaml not exercised")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ports := map[string]int{"BACKEND_PORT": freePort(t), "FRONTEND_PORT": freePort(t), "PUBLIC_PORT": freePort(t)}
	env := []string{"IMAGE=" + f.v1, "SECRETS_DIR=" + f.secretsDir}
	for k, v := range ports {
		env = append(env, k+"="+strconv.Itoa(v))
	}
	project := strings.ReplaceAll(f.id, "-", "") + "split"
	file := filepath.Join(f.kit.Module, "plugins-example", "deploy", "compose.yaml")
	run := func(ctx context.Context, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, compose, append([]string{"-p", project, "-f", file, "--profile", "split"}, args...)...)
		cmd.Env = append(cmd.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(ctx, "up", "-d"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// A context of its own: the test's is cancelled by the time cleanups run.
		down, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := run(down, "down", "-v", "--timeout", "30"); err != nil {
			t.Logf("docker-compose down: %v\n%s", err, out)
		}
	})
	ids, err := run(ctx, "ps", "-q")
	if err != nil || len(strings.Fields(ids)) != 4 {
		t.Fatalf("want 4 containers, docker-compose ps -q: %v\n%s", err, ids)
	}
	for _, id := range strings.Fields(ids) {
		if err := waitHealthy(ctx, id, 90*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var home struct {
		Component, Host string
		Backend         struct{ Component, Host string }
	}
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/", ports["FRONTEND_PORT"]), &home)
	if home.Backend.Component != "backend" || home.Backend.Host == home.Host {
		t.Errorf("frontend did not reach a separate backend container: %+v", home)
	}
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://127.0.0.1:%d/api/records/c1", ports["BACKEND_PORT"]),
		strings.NewReader(`{"title":"Compose papers"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT record: %v %v", err, resp)
	}
	resp.Body.Close()
	var rec struct{ Title string }
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/records/c1", ports["PUBLIC_PORT"]), &rec)
	if rec.Title != "Compose papers" {
		t.Errorf("record through the public UI: %+v", rec)
	}
}
