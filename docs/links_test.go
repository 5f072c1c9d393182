package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`^#{1,6} (.*)$`)
	notAnchor = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
)

// page is a Markdown file's links and heading anchors, code blocks left out.
type page struct {
	links   []string
	anchors map[string]bool
}

func readPage(t *testing.T, file string) page {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := page{anchors: map[string]bool{}}
	fenced := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			p.anchors[anchor(m[1])] = true
		}
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			p.links = append(p.links, m[1])
		}
	}
	return p
}

// anchor is GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens.
func anchor(heading string) string {
	h := strings.ToLower(strings.TrimSpace(heading))
	return strings.ReplaceAll(notAnchor.ReplaceAllString(h, ""), " ", "-")
}

// Every relative link of the front page, CONTRIBUTING, the bench page and docs/ names a file
// that exists and, with #anchor, a heading it has; and every page of docs/ is reachable from
// the README by following links.
func TestDocsLinksAndReachability(t *testing.T) {
	var pages []string
	filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "out" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".md") && !strings.Contains(p, "/cmd/graft/launchers/") {
			pages = append(pages, filepath.Clean(p))
		}
		return nil
	})
	parsed := map[string]page{}
	for _, p := range pages {
		parsed[p] = readPage(t, p)
	}
	reached := map[string]bool{}
	queue := []string{filepath.Join(repoRoot, "README.md")}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if reached[cur] {
			continue
		}
		reached[cur] = true
		for _, l := range parsed[cur].links {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(l, "#")
			target := cur
			if path != "" {
				target = filepath.Clean(filepath.Join(filepath.Dir(cur), path))
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %s: %v", cur, l, err)
				continue
			}
			if tp, ok := parsed[target]; ok {
				if frag != "" && !tp.anchors[frag] {
					t.Errorf("%s: link %s: %s has no heading #%s", cur, l, target, frag)
				}
				queue = append(queue, target)
			}
		}
	}
	for _, p := range pages {
		if strings.HasPrefix(p, filepath.Clean(repoRoot+"/docs")+"/") && !reached[p] {
			t.Errorf("%s is not reachable from README.md", p)
		}
	}
}
