package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-build/graft/internal/dockerconfig"
	"github.com/graft-build/graft/internal/usererr"
)

type loginOpts struct {
	user          string
	password      string
	passwordStdin bool
}

func newLoginCmd(g *globalOpts) *cobra.Command {
	o := &loginOpts{}
	cmd := &cobra.Command{
		Use:   "login REGISTRY -u USER --password-stdin",
		Short: "Check credentials with a registry and store them as docker login does",
		Long: `login asks REGISTRY (host[:port]; docker.io for Docker Hub) to accept USER and the
password (or token), then stores them in the Docker config ($DOCKER_CONFIG/config.json, else
~/.docker/config.json), in its credential helper when it names one (credsStore, credHelpers),
exactly where docker login puts them: graft build, graft lock, crane, buildx and docker all
read them from there.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogin(cmd.Context(), g, o, args[0], cmd.InOrStdin())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.user, "username", "u", "", "user name")
	f.StringVarP(&o.password, "password", "p", "", "password or token (visible in the process list: prefer --password-stdin)")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the password or token from standard input")
	return cmd
}

func newLogoutCmd(g *globalOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "logout REGISTRY",
		Short: "Remove a registry's credentials from the Docker config, as docker logout does",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogout(g, args[0])
		},
	}
}

func runLogin(ctx context.Context, g *globalOpts, o *loginOpts, arg string, stdin io.Reader) error {
	reg, key, err := dockerconfig.RegistryKey(arg)
	if err != nil {
		return err
	}
	pw := o.password
	switch {
	case o.passwordStdin && pw != "":
		return usererr.New("give the password with -p or --password-stdin, not both")
	case o.passwordStdin:
		b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
		pw = strings.TrimRight(string(b), "\r\n")
	case pw != "":
		fmt.Fprintln(g.stderr, "graft: warning: -p leaves the password in the process list and shell history; use --password-stdin")
	}
	if o.user == "" || pw == "" {
		return usererr.New("login %s: give -u USER and the password or token on standard input with --password-stdin", arg)
	}
	// Before the registry is asked: a config graft will not write is found at once.
	cf, err := dockerconfig.Load()
	if err != nil {
		return err
	}
	if err := dockerconfig.CheckLogin(ctx, reg, o.user, pw); err != nil {
		return err
	}
	if err := cf.Store(key, o.user, pw); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Login Succeeded (%s, stored in %s)\n", reg.RegistryStr(), cf.StoreName(key))
	return nil
}

func runLogout(g *globalOpts, arg string) error {
	_, key, err := dockerconfig.RegistryKey(arg)
	if err != nil {
		return err
	}
	cf, err := dockerconfig.Load()
	if err != nil {
		return err
	}
	erased, err := cf.Erase(key)
	if err != nil {
		return err
	}
	if !erased {
		fmt.Fprintf(g.stdout, "Not logged in to %s\n", key)
		return nil
	}
	fmt.Fprintf(g.stdout, "Removing login credentials for %s\n", key)
	return nil
}
