package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/registrytest"
)

var cursorUp = regexp.MustCompile(`\x1b\[[0-9]+A`)

// finalFrame is what stays on a terminal: the lines drawn after the last cursor-up.
func finalFrame(out string) []string {
	if loc := cursorUp.FindAllStringIndex(out, -1); len(loc) > 0 {
		out = out[loc[len(loc)-1][1]:]
	}
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(out, "\r\x1b[2K", ""), "\n"), "\n")
}

func TestBuildProgressTTYDrawsOneLinePerPluginAndASummary(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	// Plain first (auto on a pipe is plain): the layer digests the summary must show.
	code, _, plain := graft(t, "build", "-C", s.Dir, "--progress", "auto")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, plain)
	}
	if strings.Contains(plain, "\x1b") {
		t.Errorf("--progress auto on a non-terminal wrote escapes:\n%q", plain)
	}
	layers := regexp.MustCompile(`(?m)^layer  (\S+) linux/amd64 ([0-9a-f]{12}) `).FindAllStringSubmatch(plain, -1)
	if len(layers) != 2 {
		t.Fatalf("plain progress has %d layer lines, want 2:\n%s", len(layers), plain)
	}

	code, out, tty := graft(t, "build", "-C", s.Dir, "--progress", "tty")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, tty)
	}
	if !cursorUp.MatchString(tty) {
		t.Errorf("--progress tty never redrew in place:\n%q", tty)
	}
	if strings.Contains(tty, "fetch  alpha") {
		t.Errorf("--progress tty printed plain lines:\n%q", tty)
	}
	frame := finalFrame(tty)
	byName := map[string]string{}
	for _, l := range frame {
		name, rest, _ := strings.Cut(l, " ")
		byName[name] = rest
	}
	for _, m := range layers {
		if rest := byName[m[1]]; !strings.Contains(rest, "done") || !strings.Contains(rest, m[2]) {
			t.Errorf("summary line of %s = %q, want done with layer %s\n%s", m[1], rest, m[2], strings.Join(frame, "\n"))
		}
	}
	if rest := byName["graft-launcher"]; !strings.Contains(rest, "done") {
		t.Errorf("summary lacks the launcher done:\n%s", strings.Join(frame, "\n"))
	}
	if rest := byName["image"]; !strings.Contains(rest, strings.TrimSpace(out)) {
		t.Errorf("summary's image line %q lacks the digest %s", rest, out)
	}
	if rest := byName["output"]; !strings.Contains(rest, "oci-layout://") || !strings.Contains(rest, "done") {
		t.Errorf("summary's output line %q is not done", rest)
	}
	if len(frame) != 5 {
		t.Errorf("summary has %d lines, want 5 (2 plugins, launcher, image, output):\n%s", len(frame), strings.Join(frame, "\n"))
	}
}

// A registry push's own lines ("push   ...") become the output line's detail on a terminal,
// never lines of their own under the display.
func TestBuildProgressTTYPushesToARegistry(t *testing.T) {
	buildEnv(t)
	s := graftSite(t)
	name := registrytest.GGCR(t, false) + "/site:1"
	code, out, tty := graft(t, "build", "-C", s.Dir, "--progress", "tty", "--output", "type=registry,name="+name)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, tty)
	}
	for _, l := range strings.Split(tty, "\n") {
		if strings.HasPrefix(l, "push   ") {
			t.Errorf("a plain push line under the display: %q", l)
		}
	}
	frame := finalFrame(tty)
	last := frame[len(frame)-1]
	if !strings.HasPrefix(last, "output ") || !strings.Contains(last, "done") || !strings.Contains(last, "@"+strings.TrimSpace(out)) {
		t.Errorf("last summary line %q, want the registry output done at %s", last, strings.TrimSpace(out))
	}
}
