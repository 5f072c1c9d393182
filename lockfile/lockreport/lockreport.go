// Package lockreport holds what `graft lock` says about the lock it resolved: the listing (one
// line per plugin, the base, what changed in the runtime contract, whether graft.lock was
// written) and the same as one JSON document (`graft lock --json`).
package lockreport

import (
	"fmt"
	"io"
	"strings"

	"github.com/graft-build/graft/imagecontract"
	"github.com/graft-build/graft/lockfile"
	"github.com/graft-build/graft/lockfile/gitremote"
)

// Print lists lock: each plugin with what pins it and what it was pinned at before (p.Lock),
// the base, the runtime contract's changes, and whether graft.lock was written.
func Print(w io.Writer, p *lockfile.Project, lock *lockfile.Lock, written bool) {
	for _, pk := range lock.Plugins {
		if pk.Kind == lockfile.KindLocal {
			fmt.Fprintf(w, "%s: local %s -> tree %s%s\n", pk.Name, pk.Local, lockfile.Short(pk.Tree), change(p.PluginLock(pk.Name), pk))
			continue
		}
		if pk.IsArtifact() {
			fmt.Fprintf(w, "%s: %s %s -> %s %q (tree %s)%s\n", pk.Name, pk.Kind, pk.SourceName(), lockfile.Short(pk.Digest), pk.Title,
				lockfile.Short(pk.Tree), change(p.PluginLock(pk.Name), pk))
			continue
		}
		fmt.Fprintf(w, "%s: %s %s -> %s %q%s%s\n", pk.Name, pk.Kind, pk.Ref, lockfile.Short(pk.Commit), pk.Title,
			tagList(pk.Tags), change(p.PluginLock(pk.Name), pk))
	}
	fmt.Fprintf(w, "base: %s -> %s%s\n", lock.Base.Ref, lock.Base.Digest, baseChange(p.Lock, lock.Base))
	PrintContractChanges(w, p.Lock, lock)
	if written {
		fmt.Fprintf(w, "wrote %s\n", lockfile.LockFile)
	} else {
		fmt.Fprintf(w, "%s unchanged\n", lockfile.LockFile)
	}
}

// ContractChanges is what changed in the runtime contract from the old lock to the new one;
// nil when there was no old lock, or it recorded no contract.
func ContractChanges(old, now *lockfile.Lock) []imagecontract.Change {
	if old == nil {
		return nil
	}
	return imagecontract.Changes(old.Contract, now.Contract)
}

// PrintContractChanges prints, after a lock's listing, what the new lock changes for the
// deployments of the image: one line per change, then where to check the deploy files.
func PrintContractChanges(w io.Writer, old, now *lockfile.Lock) {
	if old != nil && old.Contract == nil && now.Contract != nil {
		fmt.Fprintf(w, "contract: graft.lock records the image's runtime contract from now on; the next lock shows what changes\n")
		return
	}
	imagecontract.PrintChanges(w, ContractChanges(old, now))
}

func tagList(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return fmt.Sprintf(" (tags: %s)", strings.Join(tags, ", "))
}

// change marks a plugin new, or what it was locked at before (a commit; a local folder's tree).
func change(old *lockfile.PluginLock, now lockfile.PluginLock) string {
	switch {
	case old == nil:
		return " [new]"
	case old.Pin() != now.Pin():
		return fmt.Sprintf(" [was %s]", lockfile.Short(old.Pin()))
	}
	return ""
}

// baseChange marks a base whose digest changed with what it was ([was sha256:…], and the old
// reference when that changed too).
func baseChange(old *lockfile.Lock, now lockfile.BaseLock) string {
	switch {
	case old == nil || old.Base.Digest == now.Digest:
		return ""
	case old.Base.Ref != now.Ref:
		return fmt.Sprintf(" [was %s %s]", old.Base.Ref, lockfile.ShortDigest(old.Base.Digest))
	}
	return fmt.Sprintf(" [was %s]", lockfile.ShortDigest(old.Base.Digest))
}

// Plugin is one plugin in `graft lock --json` (credentials stripped from git).
type Plugin struct {
	Name     string   `json:"name"`
	Git      string   `json:"git"`
	Ref      string   `json:"ref"`
	Kind     string   `json:"kind"`
	Commit   string   `json:"commit"`
	Title    string   `json:"title"`
	Tags     []string `json:"tags"`
	Path     string   `json:"path"`
	Local    string   `json:"local,omitempty"` // source.local of a local plugin
	Tree     string   `json:"tree"`
	Previous string   `json:"previous,omitempty"` // commit (local: tree; url, maven, oci: digest) in the lock before this run
	URL      string   `json:"url,omitempty"`      // url, maven: the file's URL (no credentials)
	Maven    string   `json:"maven,omitempty"`
	OCI      string   `json:"oci,omitempty"`
	Version  string   `json:"version,omitempty"`
	Digest   string   `json:"digest,omitempty"` // url, maven: the file's sha256; oci: the manifest's
	Size     int64    `json:"size,omitempty"`
	Dest     string   `json:"dest,omitempty"` // where it is installed, when not plugins_dir/NAME
}

// Report is `graft lock --json`.
type Report struct {
	Lock        string   `json:"lock"`
	Written     bool     `json:"written"`
	Definitions string   `json:"definitions"`
	Base        Base     `json:"base"`
	Plugins     []Plugin `json:"plugins"`
	// ContractChanges is what changed in the image's runtime contract since the lock before.
	ContractChanges []imagecontract.Change `json:"contract_changes,omitempty"`
}

// Base is the base in `graft lock --json`.
type Base struct {
	Ref      string `json:"ref"`
	Digest   string `json:"digest"`
	Previous string `json:"previous,omitempty"` // digest in the lock before this run, when it changed
}

// New is the report of lock, written at path (or left as it was), against p's lock before.
func New(p *lockfile.Project, lock *lockfile.Lock, path string, written bool) Report {
	r := Report{Lock: path, Written: written, Definitions: lock.Definitions, Plugins: []Plugin{},
		Base: Base{Ref: lock.Base.Ref, Digest: lock.Base.Digest}}
	if p.Lock != nil && p.Lock.Base.Digest != lock.Base.Digest {
		r.Base.Previous = p.Lock.Base.Digest
	}
	r.ContractChanges = ContractChanges(p.Lock, lock)
	for _, pk := range lock.Plugins {
		jp := Plugin{Name: pk.Name, Git: gitremote.Redact(pk.Git), Ref: pk.Ref, Kind: pk.Kind, Commit: pk.Commit,
			Title: pk.Title, Tags: pk.Tags, Path: pk.Path, Local: pk.Local, Tree: pk.Tree,
			URL: gitremote.Redact(pk.URL), Maven: pk.Maven, OCI: pk.OCI, Version: pk.Version, Digest: pk.Digest, Size: pk.Size, Dest: pk.Dest}
		if jp.Tags == nil {
			jp.Tags = []string{}
		}
		if old := p.PluginLock(pk.Name); old != nil {
			jp.Previous = old.Pin()
		}
		r.Plugins = append(r.Plugins, jp)
	}
	return r
}
