package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/graft-build/graft/plugins-example/demo/repos"
)

// replicas per component, as plugins-example/deploy/stack.yml declares them.
// loadWorkers send requests back to back (a short pause between), ~50-100 requests a second
// here: steady load a 2-core machine can serve while it also runs the update.
const loadWorkers = 2

var replicas = map[string]int{"backend": 3, "frontend": 3, "public": 3, "indexer": 1}

// TestSwarm deploys plugins-example/deploy/stack.yml on a single-node swarm and proves, under
// steady load through a load balancer: three replicas per component; a rolling update v1 -> v2
// (a plugin bumped with `graft lock --update`) with zero failed requests and v2 answering every
// request after it; an update to a broken image (a required secret missing) rolled back
// automatically with zero failed requests; secrets nowhere in inspect output or logs.
func TestSwarm(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	v2, v3 := buildUpdates(t, ctx, f)
	ensureSwarm(t, ctx)
	stack := strings.ReplaceAll(f.id, "-", "_")
	deployStack(t, ctx, f, stack, f.v1)
	t.Cleanup(func() { removeStack(stack) })
	waitConverged(t, ctx, stack)
	api := newDockerAPI(t)

	t.Run("three replicas per component behind a load balancer", func(t *testing.T) {
		checkReplicas(t, ctx, stack)
	})
	lbFrontend := startLoadBalancer(stack+"_frontend", 8080, api)
	defer lbFrontend.Close()
	lbPublic := startLoadBalancer(stack+"_public", 8081, api)
	defer lbPublic.Close()
	t.Run("load balancer reaches every frontend replica", func(t *testing.T) {
		checkSpread(t, lbFrontend.URL(), replicas["frontend"])
	})

	t.Run("rolling update v1 to v2 under load", func(t *testing.T) {
		ld := startLoad(loadWorkers, lbFrontend.URL()+"/", lbPublic.URL()+"/")
		time.Sleep(3 * time.Second)
		began := time.Now()
		deployStack(t, ctx, f, stack, v2)
		waitUpdateState(t, ctx, stack, "completed")
		done := time.Now()
		time.Sleep(5 * time.Second)
		rs := ld.Stop()
		report(t, "v1 -> v2", rs, done.Sub(began), lbFrontend, lbPublic)
		checkAllV2After(t, rs, done)
	})

	t.Run("broken update rolled back automatically", func(t *testing.T) {
		ld := startLoad(loadWorkers, lbFrontend.URL()+"/", lbPublic.URL()+"/")
		time.Sleep(2 * time.Second)
		began := time.Now()
		deployStack(t, ctx, f, stack, v3)
		waitUpdateState(t, ctx, stack, "rollback_completed")
		done := time.Now()
		time.Sleep(3 * time.Second)
		rs := ld.Stop()
		report(t, "v2 -> broken (rolled back)", rs, done.Sub(began), lbFrontend, lbPublic)
		checkAllV2After(t, rs, began)
		for comp := range replicas {
			img := mustDocker(t, ctx, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", stack+"_"+comp)
			if !strings.HasPrefix(img, v2) {
				t.Errorf("%s runs %s after the rollback, want %s", comp, img, v2)
			}
		}
		if failed := brokenTaskErrors(ctx, stack); failed == "" {
			t.Error("no task of the broken image failed: was it really deployed?")
		} else {
			t.Logf("broken tasks failed as intended: %s", failed)
		}
	})

	t.Run("secrets never in inspect or logs", func(t *testing.T) {
		var cmds [][]string
		for comp := range replicas {
			cmds = append(cmds, []string{"service", "inspect", stack + "_" + comp},
				[]string{"service", "logs", "--raw", stack + "_" + comp})
		}
		ids := strings.Fields(mustDocker(t, ctx, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack))
		for _, id := range ids {
			cmds = append(cmds, []string{"inspect", id}, []string{"logs", id})
		}
		checkSecretsHidden(t, ctx, f, "stack "+stack, cmds...)
		t.Logf("checked %d docker commands over %d task containers", len(cmds), len(ids))
	})
}

// buildUpdates makes v2 (files plugin bumped on its branch, `graft lock --update files`) and
// v3, broken: the greeting plugin now requires a secret the services do not provide. Once per
// fixture: it changes the shared demo tree, so `go test -count=N` reuses the first images.
func buildUpdates(t *testing.T, ctx context.Context, f *fixture) (v2, v3 string) {
	t.Helper()
	f.updates.Do(func() { f.v2, f.v3, f.updatesErr = makeUpdates(ctx, f) })
	if f.updatesErr != nil {
		t.Fatal(f.updatesErr)
	}
	return f.v2, f.v3
}

func makeUpdates(ctx context.Context, f *fixture) (v2, v3 string, err error) {
	when := repos.FirstCommit.Add(48 * time.Hour)
	if _, err := repos.Commit(ctx, f.kit.Repo("files"), map[string]string{"VERSION": "2.0.0\n"},
		"files 2.0.0", "v2.0.0", when); err != nil {
		return "", "", err
	}
	if _, err := f.kit.Graft(ctx, f.site(), "lock", "--update", "files"); err != nil {
		return "", "", err
	}
	lock, _ := os.ReadFile(filepath.Join(f.site(), "graft.lock"))
	if !strings.Contains(string(lock), "title = 'files 2.0.0'") {
		return "", "", fmt.Errorf("graft lock --update files did not pick files 2.0.0:\n%s", lock)
	}
	if v2, err = f.build(ctx, "v2"); err != nil {
		return "", "", err
	}
	def := filepath.Join(f.site(), "plugins", "greeting", "plugin.toml")
	data, err := os.ReadFile(def)
	if err != nil {
		return "", "", err
	}
	broken := strings.Replace(string(data), "settings = [\n",
		"settings = [\n  { name = \"greeting_license\", env = \"GREETING_LICENSE\", secret = true, required = true },\n", 1)
	if broken == string(data) {
		return "", "", fmt.Errorf("could not add a required setting to %s", def)
	}
	if err := os.WriteFile(def, []byte(broken), 0o644); err != nil {
		return "", "", err
	}
	if _, err := f.kit.Graft(ctx, f.site(), "lock"); err != nil {
		return "", "", err
	}
	if v3, err = f.build(ctx, "v3-broken"); err != nil {
		return "", "", err
	}
	return v2, v3, nil
}

// ensureSwarm initialises a single-node swarm when none is active, and leaves it at the end:
// the engine is left as it was found.
func ensureSwarm(t *testing.T, ctx context.Context) {
	t.Helper()
	state := mustDocker(t, ctx, "info", "--format", "{{.Swarm.LocalNodeState}}")
	switch state {
	case "active":
		return
	case "inactive":
		// swarm init creates docker_gwbridge when it is missing; remove it again then.
		hadBridge := mustDocker(t, ctx, "network", "ls", "-q", "--filter", "name=^docker_gwbridge$") != ""
		mustDocker(t, ctx, "swarm", "init", "--advertise-addr", "127.0.0.1")
		t.Cleanup(func() {
			if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
				t.Logf("docker swarm leave: %v: %s", err, out)
			}
			if !hadBridge {
				exec.Command("docker", "network", "rm", "docker_gwbridge").Run()
			}
		})
	default:
		t.Fatalf("swarm is %q on this engine; want active or inactive", state)
	}
}

// deployStack runs `docker stack deploy` on the repository's stack file. ENDPOINT_MODE=dnsrr:
// swarm's routing mesh and VIPs need IPVS, which this kernel lacks (see README).
func deployStack(t *testing.T, ctx context.Context, f *fixture, stack, image string) {
	t.Helper()
	stackFile := filepath.Join(f.kit.Module, "plugins-example", "deploy", "stack.yml")
	env := []string{"IMAGE=" + image, "ENDPOINT_MODE=dnsrr", "SECRETS_DIR=" + f.secretsDir}
	if _, err := dockerEnv(ctx, env, "stack", "deploy", "--resolve-image", "never", "-c", stackFile, stack); err != nil {
		t.Fatal(err)
	}
}

func removeStack(stack string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	docker(ctx, "stack", "rm", stack)
	waitFor(ctx, 90*time.Second, 500*time.Millisecond, "stack containers gone", func() (bool, error) {
		out, err := docker(ctx, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
		return err == nil && strings.TrimSpace(out) == "", nil
	})
	waitFor(ctx, 30*time.Second, 500*time.Millisecond, "stack network gone", func() (bool, error) {
		out, _ := docker(ctx, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
		return strings.TrimSpace(out) == "", nil
	})
	docker(ctx, "volume", "rm", stack+"_data")
}

// waitConverged waits until every service runs all its replicas, seen from both sides: the
// engine reports each task container healthy, and the swarm manager counts each task running
// (`docker service ls`). The manager learns of a task's health from the node's agent a moment
// after the engine does, so checking only the containers races the manager's view.
func waitConverged(t *testing.T, ctx context.Context, stack string) {
	t.Helper()
	api := newDockerAPI(t)
	start := time.Now()
	err := waitFor(ctx, 3*time.Minute, 500*time.Millisecond, "stack converged", func() (bool, error) {
		for comp, n := range replicas {
			ips, err := api.healthyTasks(ctx, stack+"_"+comp)
			if err != nil {
				return false, err
			}
			if len(ips) != n {
				return false, nil
			}
		}
		return managerConverged(ctx, stack)
	})
	if err != nil {
		out, _ := docker(ctx, "stack", "ps", "--no-trunc", stack)
		t.Fatalf("%v\n%s", err, out)
	}
	tasks := 0
	for _, n := range replicas {
		tasks += n
	}
	t.Logf("stack %s converged (%d healthy tasks) in %s", stack, tasks, time.Since(start).Round(time.Millisecond))
}

// managerConverged: `docker service ls` shows n/n running tasks for every component.
func managerConverged(ctx context.Context, stack string) (bool, error) {
	out, err := serviceList(ctx, stack)
	if err != nil {
		return false, err
	}
	for comp, n := range replicas {
		if !strings.Contains(out, replicaLine(stack, comp, n)) {
			return false, nil
		}
	}
	return true, nil
}

// replicaLine is serviceList's line for a component running all n of its replicas.
func replicaLine(stack, comp string, n int) string {
	return fmt.Sprintf("%s_%s replicated %d/%d", stack, comp, n, n)
}

func serviceList(ctx context.Context, stack string) (string, error) {
	return docker(ctx, "service", "ls", "--filter", "label=com.docker.stack.namespace="+stack,
		"--format", "{{.Name}} {{.Mode}} {{.Replicas}}")
}

func checkReplicas(t *testing.T, ctx context.Context, stack string) {
	out, err := serviceList(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("services:\n%s", out)
	missing := false
	for comp, n := range replicas {
		if want := replicaLine(stack, comp, n); !strings.Contains(out, want) {
			missing = true
			t.Errorf("want %q in docker service ls", want)
		}
		mode := mustDocker(t, ctx, "service", "inspect", "--format", "{{.Spec.EndpointSpec.Mode}} {{.Spec.UpdateConfig.Order}} {{.Spec.UpdateConfig.FailureAction}}", stack+"_"+comp)
		if mode != "dnsrr start-first rollback" {
			t.Errorf("%s: endpoint mode, update order, failure action = %q", comp, mode)
		}
	}
	if missing {
		ps, _ := docker(ctx, "stack", "ps", "--no-trunc", stack)
		t.Logf("tasks:\n%s", ps)
	}
}

// checkSpread: requests through the balancer are answered by every replica.
func checkSpread(t *testing.T, url string, n int) {
	hosts := map[string]bool{}
	for i := 0; i < 30; i++ {
		var body struct{ Host string }
		getJSON(t, url+"/", &body)
		hosts[body.Host] = true
	}
	if len(hosts) != n {
		t.Errorf("30 requests answered by %d replicas (%v), want %d", len(hosts), hosts, n)
	}
}

// waitUpdateState waits until every service's update has ended (UpdateStatus.State completed,
// rollback_completed or paused) and fails unless each ended in want.
func waitUpdateState(t *testing.T, ctx context.Context, stack, want string) {
	t.Helper()
	states := map[string]string{}
	err := waitFor(ctx, 4*time.Minute, time.Second, "update "+want, func() (bool, error) {
		ended := true
		for comp := range replicas {
			s, err := docker(ctx, "service", "inspect", "--format",
				"{{if .UpdateStatus}}{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}{{end}}", stack+"_"+comp)
			if err != nil {
				return false, err
			}
			states[comp] = strings.TrimSpace(s)
			state, _, _ := strings.Cut(states[comp], ":")
			ended = ended && (state == "completed" || state == "rollback_completed" || strings.HasSuffix(state, "paused"))
		}
		return ended, nil
	})
	bad := err != nil
	for _, s := range states {
		state, _, _ := strings.Cut(s, ":")
		bad = bad || state != want
	}
	if bad {
		out, _ := docker(ctx, "stack", "ps", "--no-trunc", stack)
		t.Fatalf("update did not end in %s: %v (states %v)\n%s", want, err, states, out)
	}
}

func report(t *testing.T, what string, rs []result, took time.Duration, lbs ...*loadBalancer) {
	var retries int64
	for _, lb := range lbs {
		retries += lb.retries.Load()
	}
	failed := failures(rs)
	t.Logf("%s: %d requests sent, %d failed, update took %s (load balancer retried %d connections so far)",
		what, len(rs), len(failed), took.Round(100*time.Millisecond), retries)
	for i, r := range failed {
		if i == 10 {
			t.Logf("... %d more", len(failed)-10)
			break
		}
		t.Logf("failed %s at %s: %s", r.url, r.start.Format("15:04:05.000"), r.err)
	}
	if len(failed) > 0 {
		t.Errorf("%s: %d of %d requests failed, want 0", what, len(failed), len(rs))
	}
	if len(rs) < 100 {
		t.Errorf("%s: only %d requests sent; the load did not run", what, len(rs))
	}
}

// checkAllV2After: every request started after t was answered by v2, UI and backend alike.
func checkAllV2After(t *testing.T, rs []result, after time.Time) {
	n, old := 0, map[string]int{}
	for _, r := range rs {
		if r.err != "" || r.start.Before(after) {
			continue
		}
		n++
		if !strings.Contains(r.plugins, "files@2.0.0") || r.backend != "2.0.0" {
			old[fmt.Sprintf("ui %q, backend files %q", r.plugins, r.backend)]++
		}
	}
	if n == 0 {
		t.Fatal("no request after the update to check")
	}
	if len(old) > 0 {
		t.Errorf("of %d requests after the update, some were not answered by v2: %v", n, old)
	}
	t.Logf("%d requests after the update: all answered by v2", n)
}

// brokenTaskErrors lists the distinct errors of failed tasks (the broken image's).
func brokenTaskErrors(ctx context.Context, stack string) string {
	out, _ := docker(ctx, "stack", "ps", "--no-trunc", "--format", "{{.Image}} {{.CurrentState}} {{.Error}}", stack)
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "v3-broken") && (strings.Contains(line, "Failed") || strings.Contains(line, "exit")) {
			seen[line] = true
		}
	}
	lines := make([]string, 0, len(seen))
	for l := range seen {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}
