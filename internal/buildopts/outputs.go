package buildopts

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
)

// OutputSpecs are --output's specs plus buildx's shorthands: each -t/--tag NAME names the
// image (the first one is the name outputs default to: the layout's tag, the docker tar's and
// the daemon's name), and --push is `--output type=registry,name=NAME` for every -t NAME
// (graft.toml's name, siteName, without -t). As in buildx, --push is an output: the default
// out/image is then written only when an --output asks for it.
func (o *Build) OutputSpecs(siteName string) (specs []string, defaultName string, err error) {
	for _, t := range o.Tags {
		if _, err := name.NewTag(t); err != nil {
			return nil, "", usererr.New("--tag %q: %v; write [host/]repository[:tag], e.g. registry.example.org/lib/app:v1", t, err)
		}
	}
	defaultName = siteName
	if len(o.Tags) > 0 {
		defaultName = o.Tags[0]
	}
	specs = append(specs, o.Outputs...)
	if o.Push {
		names := o.Tags
		if len(names) == 0 && siteName != "" {
			names = []string{siteName}
		}
		if len(names) == 0 {
			return nil, "", usererr.New("--push: no image name; give -t NAME (e.g. registry.example.org/lib/app:v1) or set name in graft.toml")
		}
		for _, n := range names {
			specs = append(specs, "type=registry,name="+n)
		}
	}
	if len(specs) == 0 {
		specs = []string{publish.DefaultSpec}
	}
	return specs, defaultName, nil
}

// Publishers are the outputs of OutputSpecs, relative paths taken from baseDir (the site
// repository).
func (o *Build) Publishers(baseDir, siteName string) ([]publish.Publisher, error) {
	specs, defaultName, err := o.OutputSpecs(siteName)
	if err != nil {
		return nil, err
	}
	popts := publish.Options{BaseDir: baseDir, DefaultName: defaultName, Jobs: o.Jobs}
	var pubs []publish.Publisher
	for _, s := range specs {
		pub, err := publish.Parse(s, popts)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, pub)
	}
	return pubs, nil
}

// FirstTag is the first -t name, which the attached documents name the image by; "" without
// one.
func (o *Build) FirstTag() string {
	if len(o.Tags) > 0 {
		return o.Tags[0]
	}
	return ""
}

// ParseOverrides reads --override NAME=PATH (PATH made absolute) and refuses pushing an image
// built from working folders to any of pubs unless --allow-override-push says so. It returns
// nil without --override.
func (o *Build) ParseOverrides(pubs []publish.Publisher) (map[string]string, error) {
	if len(o.Overrides) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, spec := range o.Overrides {
		name, path, ok := strings.Cut(spec, "=")
		if !ok || name == "" || path == "" {
			return nil, usererr.New("--override %q: write NAME=PATH, e.g. --override oauth=../aspace-oauth", spec)
		}
		if _, dup := out[name]; dup {
			return nil, usererr.New("--override %s is given twice; keep one", name)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("--override %s: %w", spec, err)
		}
		out[name] = abs
	}
	if o.AllowOverridePush {
		return out, nil
	}
	for _, pub := range pubs {
		if publish.Pushes(pub) {
			return nil, usererr.New("--override builds an unlocked image, which is not pushed to %s: build to a local output (type=oci, docker or daemon), "+
				"or add --allow-override-push to push it all the same", pub)
		}
	}
	return out, nil
}
