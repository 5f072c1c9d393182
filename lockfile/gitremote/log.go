package gitremote

import (
	"context"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/storage/memory"
)

// LogEntry is one commit of a Log.
type LogEntry struct {
	Commit string `json:"commit"`
	Title  string `json:"title"` // first line of the message
}

// History is what Log found between two commits.
type History struct {
	Commits []LogEntry `json:"commits"` // newest first (committer time), at most the limit
	// Truncated: there are more commits than listed, or the history reached further back than
	// graft fetched.
	Truncated bool `json:"truncated,omitempty"`
	// Unrelated: the old commit is not in the new one's history (rewritten history, or a tag
	// moved to another branch); Commits then lists the new side only.
	Unrelated bool `json:"unrelated,omitempty"`
}

// Log lists the commits reachable from to but not from from (git log from..to), newest first,
// at most limit. It fetches both commits with limit+1 commits of history each (trees and
// blobs are not needed, so none are asked for where the server allows) into memory. It uses the
// session: open a new Remote for other requests.
func (r *Remote) Log(ctx context.Context, from, to string, limit int) (*History, error) {
	req := packp.NewUploadPackRequestFromCapabilities(r.adv.Capabilities)
	req.Wants = []plumbing.Hash{r.want(to)}
	if from != to {
		req.Wants = append(req.Wants, r.want(from))
	}
	req.Depth = packp.DepthCommits(limit + 1)
	if err := req.Capabilities.Set(capability.Shallow); err != nil {
		return nil, r.wrap("fetch history of "+to, err)
	}
	if r.adv.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if r.adv.Capabilities.Supports(capability.Filter) {
		if err := req.Capabilities.Set(capability.Filter); err == nil {
			req.Filter = packp.FilterTreeDepth(0) // commits only
		}
	}
	st := memory.NewStorage()
	if err := r.download(ctx, req, st); err != nil {
		return nil, r.wrap("fetch history of "+to, err)
	}
	old := reachable(st, plumbing.NewHash(from))
	h := &History{}
	var found []*object.Commit
	seen := map[plumbing.Hash]bool{}
	todo := []plumbing.Hash{plumbing.NewHash(to)}
	for len(todo) > 0 {
		hash := todo[0]
		todo = todo[1:]
		if seen[hash] || old[hash] {
			continue
		}
		seen[hash] = true
		c, err := object.GetCommit(st, hash)
		if err != nil {
			h.Truncated = true // beyond what was fetched
			continue
		}
		found = append(found, c)
		todo = append(todo, c.ParentHashes...)
	}
	h.Unrelated = !old[plumbing.NewHash(from)] || (!h.Truncated && !touches(found, old))
	found = dateOrder(found)
	if len(found) > limit {
		found, h.Truncated = found[:limit], true
	}
	for _, c := range found {
		title, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
		h.Commits = append(h.Commits, LogEntry{Commit: c.Hash.String(), Title: strings.TrimSpace(title)})
	}
	return h, nil
}

// reachable is every commit of st reachable from tip (as far as st holds history).
func reachable(st *memory.Storage, tip plumbing.Hash) map[plumbing.Hash]bool {
	out := map[plumbing.Hash]bool{}
	todo := []plumbing.Hash{tip}
	for len(todo) > 0 {
		h := todo[0]
		todo = todo[1:]
		if out[h] {
			continue
		}
		c, err := object.GetCommit(st, h)
		if err != nil {
			continue
		}
		out[h] = true
		todo = append(todo, c.ParentHashes...)
	}
	return out
}

// touches reports whether a commit of found has a parent in old: the walk from the new commit
// met the old history.
func touches(found []*object.Commit, old map[plumbing.Hash]bool) bool {
	if len(found) == 0 {
		return true // nothing new: the new commit is in the old history
	}
	for _, c := range found {
		for _, p := range c.ParentHashes {
			if old[p] {
				return true
			}
		}
	}
	return false
}

// dateOrder orders commits as `git log --date-order` does: never a parent before its child,
// otherwise newest committer time first (ties: in the order the walk found them, which is
// child before parent on a line of commits made within one second).
func dateOrder(found []*object.Commit) []*object.Commit {
	index := map[plumbing.Hash]int{}
	for i, c := range found {
		index[c.Hash] = i
	}
	children := make([]int, len(found)) // children inside found, not yet emitted
	for _, c := range found {
		for _, p := range c.ParentHashes {
			if j, ok := index[p]; ok {
				children[j]++
			}
		}
	}
	done := make([]bool, len(found))
	out := make([]*object.Commit, 0, len(found))
	for len(out) < len(found) {
		best := -1
		for i, c := range found {
			if done[i] || children[i] > 0 {
				continue
			}
			if best < 0 || c.Committer.When.After(found[best].Committer.When) {
				best = i
			}
		}
		if best < 0 {
			break // a cycle cannot happen in git; stop rather than spin
		}
		done[best] = true
		out = append(out, found[best])
		for _, p := range found[best].ParentHashes {
			if j, ok := index[p]; ok {
				children[j]--
			}
		}
	}
	return out
}
