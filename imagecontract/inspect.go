package imagecontract

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/internal/imageref"
)

// Report is what graft put in an image, read from its labels and launcher configuration
// (`graft inspect --json`): one entry per platform.
type Report struct {
	Image     string            `json:"image"`
	Digest    string            `json:"digest"`
	MediaType string            `json:"media_type"`
	Platforms []PlatformReport  `json:"platforms"`
	Index     map[string]string `json:"annotations,omitempty"`
}

// PlatformReport is one platform's image in a Report.
type PlatformReport struct {
	Platform        string                `json:"platform"`
	Digest          string                `json:"digest"`
	BaseName        string                `json:"base_name"`
	BaseDigest      string                `json:"base_digest"`
	Created         string                `json:"created"`
	LauncherVersion string                `json:"launcher_version"`
	GraftVersion    string                `json:"graft_version"`
	Plugins         []contract.PluginInfo `json:"plugins"`
	// Contract is the runtime contract the image's launcher.toml and config give it.
	Contract *Contract `json:"contract"`
}

// Inspect reads the report of a resolved image or index, shown under the name given; an image
// graft did not build (no plugins label) is an error naming it.
func Inspect(shown string, res *imageref.Resolved) (Report, error) {
	r := Report{Image: shown, Digest: res.Digest.String(), MediaType: string(res.MediaType)}
	if res.Index == nil {
		pr, err := inspectImage(res.Image, res.Digest)
		r.Platforms = []PlatformReport{pr}
		return r, err
	}
	err := imageref.EachImage(res.Index, func(d v1.Descriptor, img v1.Image) error {
		pr, err := inspectImage(img, d.Digest)
		r.Platforms = append(r.Platforms, pr)
		return err
	})
	if err != nil {
		return r, err
	}
	if m, err := res.Index.IndexManifest(); err == nil {
		r.Index = m.Annotations
	}
	return r, nil
}

// inspectImage reads graft's labels and the runtime contract from one image.
func inspectImage(img v1.Image, digest v1.Hash) (PlatformReport, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return PlatformReport{}, err
	}
	l := cf.Config.Labels
	pr := PlatformReport{Platform: contract.Platform(contract.ConfigPlatform(cf)), Digest: digest.String(),
		BaseName: l[contract.LabelBaseName], BaseDigest: l[contract.LabelBaseDigest], Created: l[contract.LabelCreated],
		LauncherVersion: l[contract.LabelLauncherVersion], GraftVersion: l[contract.LabelGraftVersion]}
	raw, ok := l[contract.LabelPlugins]
	if !ok {
		return pr, fmt.Errorf("image %s (%s) was not built by graft: it has no %s label", digest, pr.Platform, contract.LabelPlugins)
	}
	if err := json.Unmarshal([]byte(raw), &pr.Plugins); err != nil {
		return pr, fmt.Errorf("image %s: label %s: %w", digest, contract.LabelPlugins, err)
	}
	if pr.Contract, err = FromImage(img); err != nil {
		return pr, fmt.Errorf("image %s: runtime contract: %w", digest, err)
	}
	return pr, nil
}

// Print writes the report as `graft inspect` shows it.
func (r Report) Print(w io.Writer) {
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
			fmt.Fprintln(w, pluginLine(pl, width))
		}
		Print(w, p.Contract)
	}
}

// pluginLine is a plugin's line under a platform: its name in a column width wide, what pins
// it, and where it comes from.
func pluginLine(pl contract.PluginInfo, width int) string {
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
	return strings.TrimRight(line, " ")
}
