package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The Docker peer is what sites run today: a CI script clones every plugin (shallow, one after
// the other), then `docker build` COPYs each clone into the image, one layer per plugin, like
// graft. This engine's CLI has no buildx, so this is the classic builder. Cloning on the host and
// COPYing (rather than RUN git clone) spares the base image a git install it does not have; the
// clone time is counted in the peer's time.

func (e *buildEnv) writeDockerfile() error {
	e.dockerDir = filepath.Join(e.b.tmp, "docker-context")
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\n", e.base.dockerTag)
	for i := 0; i < e.n; i++ {
		fmt.Fprintf(&df, "COPY --chown=1000:1000 plugins/%s /app/plugins/%s\n", pluginName(i), pluginName(i))
	}
	if err := writeFile(filepath.Join(e.dockerDir, "Dockerfile"), df.String()); err != nil {
		return err
	}
	return writeFile(filepath.Join(e.dockerDir, ".dockerignore"), "**/.git\n")
}

// clonePlugin shallow-clones plugin i into the build context, replacing an earlier clone.
func (e *buildEnv) clonePlugin(ctx context.Context, i int) error {
	dest := filepath.Join(e.dockerDir, "plugins", pluginName(i))
	if err := os.RemoveAll(dest); err != nil {
		return err
	}
	_, err := runCmd(ctx, cmdSpec{env: gitEnv("")}, "git", "clone", "--quiet", "--depth", "1",
		"--branch", pluginRef(i), e.git.URL+"/"+pluginName(i)+".git", dest)
	return err
}

func (e *buildEnv) cloneAll(ctx context.Context) error {
	if err := os.RemoveAll(filepath.Join(e.dockerDir, "plugins")); err != nil {
		return err
	}
	for i := 0; i < e.n; i++ {
		if err := e.clonePlugin(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// dockerBuild builds the context into tag; noCache forces every step to run.
func (e *buildEnv) dockerBuild(ctx context.Context, tag string, noCache bool) error {
	args := []string{"build", "-q", "-t", tag}
	if noCache {
		args = append(args, "--no-cache")
	}
	e.trackTag(tag)
	out, err := runCmd(ctx, cmdSpec{env: []string{"DOCKER_BUILDKIT=0"}}, "docker", append(args, e.dockerDir)...)
	if id := strings.TrimSpace(out); strings.HasPrefix(id, "sha256:") {
		// By ID too: a re-tagged ref leaves the earlier image behind, still named by its push.
		e.trackTag(id)
	}
	return err
}

func (e *buildEnv) dockerPush(ctx context.Context, tag string) error {
	_, err := runCmd(ctx, cmdSpec{}, "docker", "push", "-q", tag)
	return err
}

func (e *buildEnv) trackTag(tag string) {
	for _, t := range e.dockerTags {
		if t == tag {
			return
		}
	}
	e.dockerTags = append(e.dockerTags, tag)
}

func dockerSideName() string { return "clone + `docker build`" }
