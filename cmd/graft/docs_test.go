package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The reference pages are generated from the commands, so `graft help` and the docs say the
// same: docs/reference/graft*.md (markdown) and docs/man/*.1 (man pages).
const (
	refDir = "../../docs/reference"
	manDir = "../../docs/man"
	// envUpdateDocs rewrites the generated pages instead of comparing them.
	envUpdateDocs = "GRAFT_UPDATE_DOCS"
)

// manDate is the man pages' date: fixed, so the pages depend only on the commands.
var manDate = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func docsRoot() *cobra.Command {
	root := newRootCmd(io.Discard, io.Discard, fstest.MapFS{})
	root.DisableAutoGenTag = true
	return root
}

// generate writes the markdown reference and the man pages into two folders.
func generate(t *testing.T, md, man string) {
	t.Helper()
	if err := doc.GenMarkdownTree(docsRoot(), md); err != nil {
		t.Fatal(err)
	}
	header := &doc.GenManHeader{Title: "GRAFT", Section: "1", Date: &manDate, Source: "graft", Manual: "graft manual"}
	if err := doc.GenManTree(docsRoot(), header, man); err != nil {
		t.Fatal(err)
	}
}

// generated lists the files of dir that generate writes (markdown: graft*.md only; the other
// reference pages are written by hand).
func generated(t *testing.T, dir, pattern string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = data
	}
	return out
}

func TestReferenceDocsCurrent(t *testing.T) {
	md, man := t.TempDir(), t.TempDir()
	generate(t, md, man)
	if os.Getenv(envUpdateDocs) != "" {
		update(t, md, man)
		return
	}
	for _, c := range []struct{ want, have, pattern string }{{md, refDir, "graft*.md"}, {man, manDir, "*.1"}} {
		want, have := generated(t, c.want, c.pattern), generated(t, c.have, c.pattern)
		for name, w := range want {
			if h, ok := have[name]; !ok || !bytes.Equal(h, w) {
				t.Errorf("%s/%s is stale or missing", c.have, name)
			}
		}
		for name := range have {
			if _, ok := want[name]; !ok {
				t.Errorf("%s/%s has no command any more", c.have, name)
			}
		}
	}
	if t.Failed() {
		t.Logf("regenerate with: %s=1 go test ./cmd/graft -run TestReferenceDocsCurrent", envUpdateDocs)
	}
}

// update replaces the generated pages with md's and man's.
func update(t *testing.T, md, man string) {
	for _, c := range []struct{ from, to, pattern string }{{md, refDir, "graft*.md"}, {man, manDir, "*.1"}} {
		if err := os.MkdirAll(c.to, 0o755); err != nil {
			t.Fatal(err)
		}
		for name := range generated(t, c.to, c.pattern) {
			os.Remove(filepath.Join(c.to, name))
		}
		for name, data := range generated(t, c.from, c.pattern) {
			if err := os.WriteFile(filepath.Join(c.to, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// The generated help shows each command's example: the help and the docs come from one place.
func TestHelpGroupsEveryCommand(t *testing.T) {
	root := docsRoot()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			continue
		}
		if c.GroupID == "" || c.Example == "" {
			t.Errorf("graft %s: group %q, example %q: give it both in help.go", c.Name(), c.GroupID, c.Example)
		}
	}
}
