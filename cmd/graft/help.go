package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// rootLong is `graft --help`'s introduction; the commands follow it grouped by task.
const rootLong = `graft turns a base application image and pinned plugins into a reproducible image:
lock the plugins (graft.lock), build the image from the lock, run it with graft-launcher as PID 1.

A site repository holds graft.toml, plugins/NAME/plugin.toml and the committed graft.lock.
Guides and reference: https://github.com/graft-build/graft/tree/main/docs`

// Command groups of `graft --help`, in the order a site maintainer meets them.
var helpGroups = []*cobra.Group{
	{ID: "lock", Title: "Pin plugins:"},
	{ID: "build", Title: "Build images:"},
	{ID: "check", Title: "Look into images:"},
	{ID: "setup", Title: "Set up:"},
}

// commandHelp is each command's group and one example, kept together so `graft --help` and
// the generated reference (docs/reference/graft_*.md) show the same.
var commandHelp = map[string]struct{ group, example string }{
	"lock": {"lock", `  graft lock                          # pin every plugin and the base; writes graft.lock
  graft lock --check                  # in CI: exit 1 when graft.lock drifted
  graft lock --bump aspace-oauth      # move a plugin to its newest version tag`},
	"outdated": {"lock", `  graft outdated --exit-code          # on a schedule: exit 1 when anything is outdated`},
	"build": {"build", `  graft build                         # OCI layout in out/image; prints the digest
  graft build -t registry.example.org/lib/aspace:v1 --push`},
	"inspect": {"check", `  graft inspect out/image             # base, plugins with commits, launcher version`},
	"check-deploy": {"check", `  graft check-deploy deploy/stack.yml                       # against this site's definitions
  graft check-deploy deploy/stack.yml registry.example.edu/library/archivesspace:2025-06-01`},
	"sbom":    {"check", `  graft sbom registry.example.org/lib/aspace:v1 > sbom.spdx.json`},
	"verify":  {"check", `  graft verify registry.example.org/lib/aspace:v1   # exit 0 only if graft.lock builds exactly this`},
	"doctor":  {"setup", `  graft doctor                        # what this machine has for the site in the current folder`},
	"login":   {"setup", `  echo "$TOKEN" | graft login ghcr.io -u USER --password-stdin`},
	"logout":  {"setup", `  graft logout ghcr.io`},
	"version": {"setup", `  graft version`},
	"completion": {"setup", `  graft completion bash > /etc/bash_completion.d/graft
  graft completion zsh > "${fpath[1]}/_graft"
  graft completion fish > ~/.config/fish/completions/graft.fish`},
}

// organizeHelp groups root's commands by task and gives each its example. Commands without an
// entry (cobra's own help) stay ungrouped.
func organizeHelp(root *cobra.Command) {
	root.Long = rootLong
	root.AddGroup(helpGroups...)
	root.SetHelpCommandGroupID("setup")
	root.SetCompletionCommandGroupID("setup")
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		h, ok := commandHelp[c.Name()]
		if !ok {
			continue
		}
		c.GroupID = h.group
		if c.Example == "" {
			c.Example = strings.TrimRight(h.example, "\n")
		}
	}
}
