package main

import (
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/graft-build/graft/builder/publish"
	"github.com/graft-build/graft/internal/usererr"
)

// outputSpecs are --output's specs plus buildx's shorthands: each -t/--tag NAME names the
// image (the first one is the name outputs default to: the layout's tag, the docker tar's and
// the daemon's name), and --push is `--output type=registry,name=NAME` for every -t NAME
// (graft.toml's name without -t). As in buildx, --push is an output: the default out/image is
// then written only when an --output asks for it.
func outputSpecs(o *buildOpts, siteName string) (specs []string, defaultName string, err error) {
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
