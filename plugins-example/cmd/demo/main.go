// Command demo runs graft's main job offline on a fresh machine:
//
//	go run ./plugins-example/cmd/demo [--buildkit ADDR] [--keep] [--no-docker]
//
// It builds the demo base image (out/demo/base), creates the example plugin repositories
// (out/demo/repos), builds graft and graft-launcher from this checkout (out/demo/bin), runs
// `graft lock` and `graft build` on plugins-example/demo/site (site-buildkit, with the
// build-step plugin, when BuildKit is given by --buildkit or BUILDKIT_HOST), writes the image to
// out/demo/image, and where Docker is present loads it, runs it with its secrets as files, waits
// until `docker inspect` says healthy, shows what it serves, and stops it (--keep leaves it
// running).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/graft-build/graft/plugins-example/demo/demokit"
)

// ImageName is the tag the demo loads into Docker.
const ImageName = "graft-demo:latest"

type options struct {
	buildkit string
	keep     bool
	noDocker bool
}

func main() {
	var o options
	flag.StringVar(&o.buildkit, "buildkit", os.Getenv("BUILDKIT_HOST"), "BuildKit address: also build the plugin with a build step (site-buildkit)")
	flag.BoolVar(&o.keep, "keep", false, "leave the container running")
	flag.BoolVar(&o.noDocker, "no-docker", false, "build only, even where Docker is present")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	root, err := demokit.ModuleRoot()
	if err != nil {
		return err
	}
	kit := &demokit.Kit{Root: root, Module: root, Bin: filepath.Join(root, demokit.OutDir, "bin"), Log: os.Stderr}
	step("1/5 base image (from scratch: demo-app + static busybox)")
	if _, err := kit.BuildBase(ctx); err != nil {
		return err
	}
	step("2/5 plugin repositories (fixed commit SHAs)")
	if _, err := kit.CreateRepos(ctx); err != nil {
		return err
	}
	step("3/5 graft and graft-launcher from this checkout")
	if err := kit.BuildTools(ctx); err != nil {
		return err
	}
	site := kit.Site("site")
	var buildArgs []string
	if o.buildkit != "" {
		site = kit.Site("site-buildkit")
		buildArgs = append(buildArgs, "--buildkit", o.buildkit)
	}
	step("4/5 graft lock   (" + rel(root, site) + ")")
	if _, err := kit.Graft(ctx, site, "lock"); err != nil {
		return err
	}
	lock, _ := os.ReadFile(filepath.Join(site, "graft.lock"))
	fmt.Print(string(lock))
	docker := !o.noDocker && dockerPresent(ctx)
	buildArgs = append(buildArgs, "--output", "type=oci,dest="+kit.Out("image"))
	if docker {
		buildArgs = append(buildArgs, "--output", "type=daemon,name="+ImageName)
	}
	step("5/5 graft build  (" + strings.Join(buildArgs, " ") + ")")
	out, err := kit.Graft(ctx, site, append([]string{"build"}, buildArgs...)...)
	if err != nil {
		return err
	}
	fmt.Printf("image digest: %s\nOCI layout:   %s\n", demokit.LastLine(out), kit.Out("image"))
	if !docker {
		fmt.Println("Docker is not available (or --no-docker): the image is built; load it with `docker load` from a type=docker output to run it.")
		return nil
	}
	pages := []string{"/", "/plugins/stamp", "/plugins/greeting"}
	if o.buildkit != "" {
		pages = append(pages, "/plugins/assets") // lists generated/assets.txt, made by the build step
	}
	return runContainer(ctx, kit, o.keep, pages)
}

func step(s string) { fmt.Fprintf(os.Stderr, "\n==> %s\n", s) }

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

func dockerPresent(ctx context.Context) bool {
	return exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.APIVersion}}").Run() == nil
}

// runContainer runs the all-in-one container the way a site would: secrets as files, never as
// environment values; the launcher's health endpoint on 9090.
func runContainer(ctx context.Context, kit *demokit.Kit, keep bool, pages []string) error {
	secrets, err := writeSecrets(kit.Out("secrets"))
	if err != nil {
		return err
	}
	name := "graft-demo-" + randomHex(4)
	args := []string{"run", "-d", "--name", name, "--health-interval", "1s", "--health-retries", "3",
		"-e", "GRAFT_HEALTH_ADDR=:9090", "-v", "graft-demo-data:/srv/demo/data"}
	for _, p := range []string{"8080", "8081", "8089", "8091", "9090"} {
		args = append(args, "-p", "127.0.0.1::"+p)
	}
	for env, file := range secrets {
		args = append(args, "-v", file+":/run/secrets/"+filepath.Base(file)+":ro",
			"-e", env+"_FILE=/run/secrets/"+filepath.Base(file))
	}
	step("run: docker " + strings.Join(args, " ") + " " + ImageName)
	if out, err := exec.CommandContext(ctx, "docker", append(args, ImageName)...).CombinedOutput(); err != nil {
		return fmt.Errorf("docker run: %w: %s", err, out)
	}
	if !keep {
		defer stopContainer(name)
	}
	if err := waitHealthy(ctx, name, 90*time.Second); err != nil {
		logs, _ := exec.Command("docker", "logs", "--tail", "30", name).CombinedOutput()
		return fmt.Errorf("%w\ncontainer log:\n%s", err, logs)
	}
	return show(ctx, name, keep, pages)
}

func writeSecrets(dir string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := map[string]string{"APP_SECRET_KEY": "app_secret_key", "GREETING_SHARED_SECRET": "greeting_shared_secret"}
	out := map[string]string{}
	for env, name := range files {
		p := filepath.Join(dir, name)
		// Readable by the container's app user (uid 1000); the folder itself is 0700.
		if err := os.WriteFile(p, []byte(randomHex(16)+"\n"), 0o644); err != nil {
			return nil, err
		}
		out[env] = p
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func waitHealthy(ctx context.Context, name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		out, err := exec.CommandContext(ctx, "docker", "inspect", "--format",
			"{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name).Output()
		state := strings.TrimSpace(string(out))
		switch {
		case err != nil:
			return fmt.Errorf("docker inspect %s: %w", name, err)
		case strings.HasSuffix(state, " healthy"):
			fmt.Fprintf(os.Stderr, "container %s: %s\n", name, state)
			return nil
		case strings.HasPrefix(state, "exited"), strings.HasPrefix(state, "dead"):
			return fmt.Errorf("container %s stopped during startup (%s)", name, state)
		case time.Now().After(deadline):
			return fmt.Errorf("container %s not healthy after %s (%s)", name, limit, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func hostPort(name, port string) string {
	out, _ := exec.Command("docker", "port", name, port).Output()
	return strings.TrimSpace(strings.Split(string(out), "\n")[0])
}

func show(ctx context.Context, name string, keep bool, pages []string) error {
	frontend := hostPort(name, "8080")
	fmt.Printf("\nhealthy. Reach it at:\n  frontend http://%s/\n  public   http://%s/\n  backend  http://%s/api/info\n  indexer  http://%s/status\n  health   http://%s/readyz\n",
		frontend, hostPort(name, "8081"), hostPort(name, "8089"), hostPort(name, "8091"), hostPort(name, "9090"))
	for _, path := range pages {
		body, header, err := get(ctx, "http://"+frontend+path)
		if err != nil {
			return err
		}
		fmt.Printf("\nGET frontend %s  (X-Demo-Plugins: %s)\n%s", path, header.Get("X-Demo-Plugins"), body)
	}
	ports, _ := exec.CommandContext(ctx, "docker", "exec", name, "/bin/sh", "-c",
		"for f in /run/graft/ports/*.port; do echo \"$f: $(cat $f)\"; done").CombinedOutput()
	fmt.Printf("\nport files:\n%s", ports)
	if keep {
		fmt.Printf("\nleft running (--keep): stop it with `docker stop %s && docker rm %s`\n", name, name)
	}
	return nil
}

func get(ctx context.Context, url string) (string, http.Header, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	var pretty any
	if json.Unmarshal(body, &pretty) != nil {
		return "", nil, errors.New("GET " + url + ": not JSON")
	}
	return string(body), resp.Header, nil
}

func stopContainer(name string) {
	start := time.Now()
	exec.Command("docker", "stop", name).Run()
	code, _ := exec.Command("docker", "inspect", "--format", "{{.State.ExitCode}}", name).Output()
	fmt.Fprintf(os.Stderr, "\nstopped %s in %s (exit code %s)\n", name, time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(code)))
	exec.Command("docker", "rm", "-v", name).Run()
	exec.Command("docker", "volume", "rm", "graft-demo-data").Run()
}
