package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder"
	"github.com/graft-build/graft/deploycheck"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/imageref"
	"github.com/graft-build/graft/internal/usererr"
	"github.com/graft-build/graft/lockfile"
)

func newCheckDeployCmd(g *globalOpts) *cobra.Command {
	var services []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check-deploy FILE.yml... [IMAGE]",
		Short: "Check compose and stack files against the image's runtime contract before deploying",
		Long: `check-deploy reads Docker Compose or Swarm stack files (several are merged in order, as
docker compose -f A -f B does; variables come from the environment and .env) and checks every
service running the image against its runtime contract: each setting it must have is given (X,
or X_FILE naming a secret, config or volume the service mounts), the components it selects
(GRAFT_COMPONENTS, or run COMPONENT...) exist, its healthcheck is not disabled, and its
stop_grace_period is not shorter than GRAFT_STOP_TIMEOUT. One-off jobs (exec) need the settings
only.

The contract comes from IMAGE (a registry reference, oci-layout://DIR[:tag|@digest], a layout
folder or a tar) when given, else from the site repository (-C). The services checked are those
whose image is in the repository of IMAGE, or of graft.toml's name, or the --service ones.
Exit 1 when a service would fail to start or to be rolled out; 2 when a file or IMAGE cannot be read.`,
		Args: cobra.ArbitraryArgs, // deploycheck.SplitArgs says what is missing
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheckDeploy(cmd.Context(), g, args, services, asJSON)
		},
	}
	cmd.Flags().StringSliceVar(&services, "service", nil, "check these services (default: every service whose image is the image's repository)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	return cmd
}

func runCheckDeploy(ctx context.Context, g *globalOpts, args, services []string, asJSON bool) error {
	files, image, err := deploycheck.SplitArgs(args)
	if err != nil {
		return err
	}
	var c *imagecontract.Contract
	var repo, against string
	if image != "" {
		c, repo, err = imageContract(ctx, image)
		against = image
	} else {
		c, repo, err = siteContract(g.dir)
		against = lockfile.SiteFile
	}
	if err != nil {
		return err
	}
	if repo == "" && len(services) == 0 {
		if p, err := lockfile.Load(g.dir); err == nil {
			repo = p.Site.Name // an image named by a path: the site says what it is called
		}
	}
	project, err := deploycheck.Load(ctx, files, os.Environ())
	if err != nil {
		return err
	}
	svcs, err := deploycheck.Services(project, deploycheck.Select{Services: services, Repository: repo})
	if err != nil {
		return err
	}
	rep := deploycheck.Check(svcs, c)
	if asJSON {
		if err := writeJSON(g.stdout, map[string]any{"files": files, "image": against, "ok": rep.OK(), "report": rep}); err != nil {
			return err
		}
	} else {
		rep.Print(g.stdout, files, against)
	}
	if !rep.OK() {
		return errCheckFailed
	}
	return nil
}

// imageContract reads the contract of IMAGE, and the repository deploy files name it by (""
// when IMAGE is a path).
func imageContract(ctx context.Context, arg string) (*imagecontract.Contract, string, error) {
	ref, res, err := imageref.ResolveArg(ctx, arg)
	if err != nil {
		return nil, "", err
	}
	c, err := imagecontract.FromResolved(res)
	if errors.Is(err, imagecontract.ErrNoLauncherConfig) {
		return nil, "", usererr.New("image %s: %v", arg, err)
	}
	if err != nil {
		return nil, "", fmt.Errorf("image %s: %w", arg, err)
	}
	repo := ""
	if ref.Kind == imageref.Registry {
		repo = ref.Name.Context().Name()
	}
	return c, repo, nil
}

// siteContract is the contract the site's definitions give the image (no lock needed), and
// graft.toml's name.
func siteContract(dir string) (*imagecontract.Contract, string, error) {
	p, err := lockfile.Load(dir)
	if err != nil {
		return nil, "", err
	}
	return builder.SiteContract(p), p.Site.Name, nil
}
