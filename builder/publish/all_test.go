package publish_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/progress"
	"github.com/graft-build/graft/builder/publish"
)

// fakeOut is an output that writes a line of progress and answers where.
type fakeOut struct {
	spec, where string
	err         error
}

func (f fakeOut) Publish(_ context.Context, _ publish.Artifact, w io.Writer) (string, error) {
	fmt.Fprintln(w, "push   layer")
	return f.where, f.err
}
func (f fakeOut) String() string         { return f.spec }
func (f fakeOut) Target() publish.Target { return publish.Target{} }

type events struct {
	mu  sync.Mutex
	all []string
}

func (e *events) Event(ev progress.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, fmt.Sprintf("%s|%s|%s|%s", ev.Subject, ev.Phase, ev.Detail, ev.Plain))
}

// Every output is announced first, then run in order; a registry's answer becomes its line's
// detail, a path equal to the spec does not; the publisher's own lines are the output's.
func TestAllRunsOutputsInOrder(t *testing.T) {
	rep := &events{}
	pubs := []publish.Publisher{fakeOut{spec: "oci:out", where: "oci:out"}, fakeOut{spec: "registry:r/x", where: "r/x@sha256:1"}}
	where, err := publish.All(context.Background(), pubs, publish.Artifact{}, rep)
	if err != nil || strings.Join(where, " ") != "oci:out r/x@sha256:1" {
		t.Fatalf("%v %v", where, err)
	}
	want := []string{
		"output oci:out|waiting||", "output registry:r/x|waiting||",
		"output oci:out|pushing||output oci:out ...", "output oci:out|pushing|push   layer|push   layer", "output oci:out|done||output oci:out done in ",
		"output registry:r/x|pushing||output registry:r/x ...", "output registry:r/x|pushing|push   layer|push   layer", "output registry:r/x|done|r/x@sha256:1|output r/x@sha256:1 done in ",
	}
	if len(rep.all) != len(want) {
		t.Fatalf("events\n%s", strings.Join(rep.all, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(rep.all[i], w) {
			t.Errorf("event %d: %q, want %q…", i, rep.all[i], w)
		}
	}
	boom := errors.New("boom")
	if _, err := publish.All(context.Background(), []publish.Publisher{fakeOut{spec: "a", err: boom}, fakeOut{spec: "b"}}, publish.Artifact{}, progress.Discard); !errors.Is(err, boom) {
		t.Errorf("failed output: %v", err)
	}
}

func TestReport(t *testing.T) {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: "amd64", OS: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	res := &contract.Result{Image: img, Digest: d, Base: "base@sha256:0", Created: time.Unix(0, 0).UTC(), Platforms: []string{"linux/amd64"}}
	r := publish.NewReport(res, []string{"out"})
	if r.Digest != d.String() || r.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || r.Created != "1970-01-01T00:00:00Z" ||
		r.Plugins == nil || len(r.Outputs) != 1 {
		t.Errorf("%+v", r)
	}
	res.Index = mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	if r := publish.NewReport(res, nil); r.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %q", r.MediaType)
	}
}
