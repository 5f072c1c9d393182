package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/internal/imageref"
)

func newInspectCmd(g *globalOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show what graft put in an image: base, plugins with commits, launcher version",
		Long:  "inspect reads the labels graft build set. " + imageFormsHelp,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), g, args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	return cmd
}

// inspectReport is `graft inspect --json`.
type inspectReport struct {
	Image     string            `json:"image"`
	Digest    string            `json:"digest"`
	MediaType string            `json:"media_type"`
	Platforms []platformReport  `json:"platforms"`
	Index     map[string]string `json:"annotations,omitempty"`
}

type platformReport struct {
	Platform        string                `json:"platform"`
	Digest          string                `json:"digest"`
	BaseName        string                `json:"base_name"`
	BaseDigest      string                `json:"base_digest"`
	Created         string                `json:"created"`
	LauncherVersion string                `json:"launcher_version"`
	GraftVersion    string                `json:"graft_version"`
	Plugins         []contract.PluginInfo `json:"plugins"`
	// Contract is the runtime contract the image's launcher.toml and config give it.
	Contract *imagecontract.Contract `json:"contract"`
}

// imageFormsHelp says what IMAGE may be, in every command that reads one.
const imageFormsHelp = `IMAGE is a registry reference with its registry host (host/repo:tag or
host/repo@sha256:...); oci-layout://DIR[:tag|@digest]; a path to an OCI layout folder
(out/image), an OCI tar or a docker tar, optionally with :tag or @digest; or
docker-daemon:NAME. A name without a registry host (app:v1) is read from the Docker Engine
when it holds it, and is never looked up in a registry. Relative paths are taken from the
current directory.`

func runInspect(ctx context.Context, g *globalOpts, arg string, asJSON bool) error {
	ref, res, err := resolveImage(ctx, arg)
	if err != nil {
		return err
	}
	shown := ref.String()
	if ref.Kind != imageref.Registry && ref.Kind != imageref.Daemon && !strings.Contains(arg, "://") {
		shown = arg // a plain path, as the user wrote it
	}
	r := inspectReport{Image: shown, Digest: res.Digest.String(), MediaType: string(res.MediaType)}
	if res.Index != nil {
		if r.Platforms, err = indexPlatforms(res.Index); err != nil {
			return err
		}
		if m, err := res.Index.IndexManifest(); err == nil {
			r.Index = m.Annotations
		}
	} else {
		pr, err := imagePlatform(res.Image, res.Digest)
		if err != nil {
			return err
		}
		r.Platforms = []platformReport{pr}
	}
	if asJSON {
		return writeJSON(g.stdout, r)
	}
	printInspect(g.stdout, r)
	return nil
}

func indexPlatforms(idx v1.ImageIndex) ([]platformReport, error) {
	var out []platformReport
	err := eachIndexImage(idx, func(d v1.Descriptor, img v1.Image) error {
		pr, err := imagePlatform(img, d.Digest)
		out = append(out, pr)
		return err
	})
	return out, err
}

// eachIndexImage calls fn for each image of idx, in the index's order (artifacts skipped).
func eachIndexImage(idx v1.ImageIndex, fn func(v1.Descriptor, v1.Image) error) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range m.Manifests {
		if !d.MediaType.IsImage() || imageref.IsAttachment(d) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if err := fn(d, img); err != nil {
			return err
		}
	}
	return nil
}

// imagePlatform reads graft's labels from one image's config.
func imagePlatform(img v1.Image, digest v1.Hash) (platformReport, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return platformReport{}, err
	}
	l := cf.Config.Labels
	pr := platformReport{Platform: contract.Platform(contract.ConfigPlatform(cf)), Digest: digest.String(),
		BaseName: l[contract.LabelBaseName], BaseDigest: l[contract.LabelBaseDigest], Created: l[contract.LabelCreated],
		LauncherVersion: l[contract.LabelLauncherVersion], GraftVersion: l[contract.LabelGraftVersion]}
	raw, ok := l[contract.LabelPlugins]
	if !ok {
		return pr, fmt.Errorf("image %s (%s) was not built by graft: it has no %s label", digest, pr.Platform, contract.LabelPlugins)
	}
	if err := json.Unmarshal([]byte(raw), &pr.Plugins); err != nil {
		return pr, fmt.Errorf("image %s: label %s: %w", digest, contract.LabelPlugins, err)
	}
	if pr.Contract, err = imagecontract.FromImage(img); err != nil {
		return pr, fmt.Errorf("image %s: runtime contract: %w", digest, err)
	}
	return pr, nil
}

func printInspect(w io.Writer, r inspectReport) {
	fmt.Fprintf(w, "image     %s\ndigest    %s\n", r.Image, r.Digest)
	for _, p := range r.Platforms {
		fmt.Fprintf(w, "\nplatform  %s  %s\n", p.Platform, p.Digest)
		fmt.Fprintf(w, "base      %s @ %s\n", p.BaseName, p.BaseDigest)
		fmt.Fprintf(w, "created   %s\nlauncher  %s\ngraft     %s\n", p.Created, p.LauncherVersion, p.GraftVersion)
		fmt.Fprintf(w, "plugins   %d\n", len(p.Plugins))
		width := 0 // one column for every name, however long the longest
		for _, pl := range p.Plugins {
			width = max(width, len(pl.Name))
		}
		for _, pl := range p.Plugins {
			extra := []string{}
			if pl.Ref != "" {
				extra = append(extra, "ref "+pl.Ref)
			}
			if pl.Path != "" {
				extra = append(extra, "path "+pl.Path)
			}
			at := pl.Commit
			if pl.Local != "" {
				at, extra = pl.Tree, append(extra, "local "+pl.Local)
			}
			if pl.Kind != "" {
				at, extra = pl.Digest, append(extra, pl.Kind+" "+pl.Source)
			}
			if pl.Dest != "" {
				extra = append(extra, "at "+pl.Dest)
			}
			line := fmt.Sprintf("  %-*s  %s  %s", width, pl.Name, at, strings.Join(extra, ", "))
			fmt.Fprintln(w, strings.TrimRight(line, " "))
		}
		imagecontract.Print(w, p.Contract)
	}
}
