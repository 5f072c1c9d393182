package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/graft-build/graft/builder/contract"
	"github.com/graft-build/graft/builder/progress"
)

// All publishes a to every output in turn, each announced on rep first (waiting), then shown
// while it runs and when done. It returns where each output went (Publish's answer), in order.
func All(ctx context.Context, pubs []Publisher, a Artifact, rep progress.Reporter) ([]string, error) {
	for _, pub := range pubs {
		rep.Event(progress.Event{Subject: "output " + fmt.Sprint(pub), Phase: progress.Waiting})
	}
	var where []string
	for _, pub := range pubs {
		w, err := one(ctx, pub, a, rep)
		if err != nil {
			return nil, err
		}
		where = append(where, w)
	}
	return where, nil
}

// one runs one output; the publisher's own lines ("push   ...") become its line's detail on a
// terminal and stay lines of their own in plain mode.
func one(ctx context.Context, pub Publisher, a Artifact, rep progress.Reporter) (string, error) {
	start := time.Now()
	subject := "output " + fmt.Sprint(pub)
	rep.Event(progress.Event{Subject: subject, Phase: progress.Pushing, Plain: subject + " ..."})
	lines := progress.Lines(rep, subject, progress.Pushing)
	w, err := pub.Publish(ctx, a, lines)
	lines.Close()
	if err != nil {
		return "", err
	}
	took := time.Since(start).Round(time.Millisecond)
	detail := w // a registry's name@digest says more than the spec
	if detail == fmt.Sprint(pub) {
		detail = ""
	}
	rep.Event(progress.Event{Subject: subject, Phase: progress.Done, Detail: detail,
		Plain: fmt.Sprintf("output %s done in %s", w, took)})
	return w, nil
}

// Report is `graft build --json`: the image built and where its outputs went.
type Report struct {
	Digest    string                `json:"digest"`
	MediaType string                `json:"media_type"`
	Base      string                `json:"base"`
	BaseRef   string                `json:"base_ref"`
	Created   string                `json:"created"`
	Platforms []string              `json:"platforms"`
	Plugins   []contract.PluginInfo `json:"plugins"`
	Outputs   []string              `json:"outputs"`
}

// NewReport reports res, published to where (All's answer).
func NewReport(res *contract.Result, where []string) Report {
	r := Report{Digest: res.Digest.String(), Base: res.Base, BaseRef: res.BaseRef,
		Created: res.Created.Format(time.RFC3339), Platforms: res.Platforms, Plugins: res.Plugins, Outputs: where}
	if res.Index != nil {
		mt, _ := res.Index.MediaType()
		r.MediaType = string(mt)
	} else {
		mt, _ := res.Image.MediaType()
		r.MediaType = string(mt)
	}
	if r.Plugins == nil {
		r.Plugins = []contract.PluginInfo{}
	}
	return r
}
