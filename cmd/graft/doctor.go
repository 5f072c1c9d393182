package main

import (
	"context"
	"os"
	"os/exec"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/graft-build/graft/internal/buildopts"
	"github.com/graft-build/graft/internal/doctor"
)

func newDoctorCmd(g *globalOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Say what this machine has for graft, and what the site in -C DIR needs that it lacks",
		Long: `doctor looks, without building or fetching anything, at what graft uses here: the launcher
binaries, git, the Docker Engine, BuildKit, credentials for the site's registries and git hosts,
graft.lock and the cache folder. Each line is ok, info, warn (absent, but this site does not
need it) or missing (this site needs it; a fix follows). Exit 1 when something is missing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := runDoctor(cmd.Context(), g)
			if asJSON {
				if err := writeJSON(g.stdout, r); err != nil {
					return err
				}
			} else if err := r.Print(g.stdout); err != nil {
				return err
			}
			if r.Failed() {
				return errCheckFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	return cmd
}

// runDoctor gathers the checks for the site in g.dir (if there is one) and this machine.
func runDoctor(ctx context.Context, g *globalOpts) *doctor.Report {
	p, loadErr := doctor.LoadSite(g.dir)
	site := ""
	if p != nil {
		site = p.Dir
	}
	var platforms []string
	if p != nil {
		platforms = p.Site.Platforms
	}
	env, err := buildopts.ReadEnv(os.Getenv)
	if err != nil {
		env.CacheDir = err.Error()
	}
	l := launchers(ctx, g, env, nil, nil)
	l.Fallback = nil // look, never build
	find := func(pl v1.Platform) (string, error) {
		_, v, err := l.Launcher(pl)
		return v, err
	}
	return doctor.Run(ctx, site,
		doctor.Lock(p, loadErr),
		doctor.Launchers(find, platforms, exec.LookPath),
		doctor.Git(p, exec.LookPath),
		doctor.Docker(),
		doctor.BuildKit(p, env.BuildkitHost, doctor.ProbeBuildKit),
		doctor.Registries(p, authn.DefaultKeychain),
		doctor.GitHosts(p, os.Getenv),
		doctor.Cache(env.CacheDir),
	)
}
