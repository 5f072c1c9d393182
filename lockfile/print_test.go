package lockfile

import (
	"strings"
	"testing"

	"github.com/graft-build/graft/lockfile/gitremote"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		hex64:             "0123456789ab",
		"sha256:" + hex64: "sha256:0123456789ab",
		"abc":             "abc",
	} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ShortDigest("sha512:" + hex64); got != "sha512:0123456789ab" {
		t.Errorf("ShortDigest = %q", got)
	}
}

func TestOutdatedLines(t *testing.T) {
	for _, tc := range []struct {
		o    Outdated
		want string
	}{
		{Outdated{Plugin: "a", NotLocked: true}, "a: not locked yet; run `graft lock --changed`"},
		{Outdated{Plugin: "a", Removed: true}, "a: in graft.lock but plugins/a/plugin.toml is gone; run `graft lock --changed` to drop it"},
		{Outdated{Plugin: "a", Kind: KindLocal, Ref: "src/a", Locked: hex64},
			"a: local src/a at tree 0123456789ab: kept in the site repository (graft lock --check reports changes)"},
		{Outdated{Plugin: "a", Kind: "tag", Ref: "v1", Locked: hex64}, "a: tag v1 at 0123456789ab: up to date"},
		{Outdated{Plugin: "a", Kind: "tag", Ref: "v1", Locked: hex64, NewerTags: []string{"v2", "v3"}, Moved: hex64},
			"a: tag v1 at 0123456789ab: tag moved: now at 0123456789ab, the release was re-tagged (review it, then: graft lock --update a); newer tags: v2, v3 (to bump: graft lock --bump a)"},
		{Outdated{Plugin: "a", Kind: "branch", Ref: "main", Locked: hex64, Head: hex64},
			"a: branch main at 0123456789ab: branch head now 0123456789ab (to bump: graft lock --update a)"},
		{Outdated{Plugin: "a", Kind: KindOCI, Ref: "1.0", Locked: "sha256:" + hex64, Head: "sha256:" + hex64, Unlisted: "403"},
			"a: oci 1.0 at sha256:0123456789ab: versions not listed (403); the tag now names sha256:0123456789ab (to take it: graft lock --update a)"},
	} {
		if got := tc.o.Line(); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestBaseOutdatedLine(t *testing.T) {
	b := BaseOutdated{Ref: "r/base:1", Locked: "sha256:" + hex64}
	if got, want := b.Line(), "base: r/base:1 at sha256:0123456789ab: up to date"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	b.Digest = "sha256:" + hex64
	b.NewerTags = []BaseTag{{Tag: "2", BlockedBy: []Blocker{{Plugin: "x", Reason: "needs 1"}}}, {Tag: "3", Moves: []Move{{Plugin: "y", From: "v1", To: "v2"}}}}
	want := "base: r/base:1 at sha256:0123456789ab: rebuilt: the tag now names sha256:0123456789ab (to refresh: graft lock --update base); " +
		"newer tags: 2 (blocked by x needs 1), 3 (moves y v1 -> v2) (to bump: graft lock --bump base)"
	if got := b.Line(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := (BaseOutdated{Ref: "r", NotLocked: true}).Line(); got != "base: r is not the locked base; run `graft lock --update base`" {
		t.Errorf("not locked: %q", got)
	}
}

func TestBumpPrint(t *testing.T) {
	var b strings.Builder
	(&BaseBump{OldRef: "r:1", NewRef: "r:2", OldDigest: "sha256:" + hex64, NewDigest: "sha256:" + hex64,
		Skipped: []BaseTag{{Tag: "3", BlockedBy: []Blocker{{Plugin: "x", Reason: "needs 1"}}}}}).Print(&b)
	(&BaseBump{OldRef: "r:1", NewRef: "r:1", OldDigest: "sha256:" + hex64, NewDigest: "sha256:" + hex64}).Print(&b)
	(&Bump{Plugin: "a", Kind: "branch", OldRef: "main", NewRef: "main", OldCommit: hex64, NewCommit: "fedcba9876543210",
		History: &gitremote.History{Commits: []gitremote.LogEntry{{Commit: "fedcba9876543210", Title: "Fix"}}, Truncated: true, Unrelated: true}}).Print(&b)
	(&Bump{Plugin: "m", Kind: KindMaven, OldRef: "1", NewRef: "2", OldCommit: "sha256:" + hex64, NewCommit: "sha256:" + hex64, HistoryError: "offline"}).Print(&b)
	want := `base: not moving to 3 (blocked by x needs 1)
base: r:1 -> r:2 (sha256:0123456789ab -> sha256:0123456789ab), wrote graft.toml
base: r:1 at sha256:0123456789ab is the newest tag; nothing to bump
a: branch main (0123456789ab -> fedcba987654)
  - fedcba987654 Fix
  - ... (more commits; the first 50 are listed)
  (0123456789ab is not in the history of fedcba987654: the history was rewritten or the tag moved to another branch)
m: version 1 -> 2 (sha256:0123456789ab -> sha256:0123456789ab), wrote plugins/m/plugin.toml
  (commits in between not listed: offline)
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestAllCurrent(t *testing.T) {
	base, cur := &BaseOutdated{Ref: "r"}, Outdated{Plugin: "a"}
	if !AllCurrent(base, nil) || !AllCurrent(base, []Outdated{cur}) {
		t.Fatal("nothing newer, and not all current")
	}
	if AllCurrent(base, []Outdated{cur, {Plugin: "b", Removed: true}}) || AllCurrent(&BaseOutdated{Digest: "sha256:x"}, []Outdated{cur}) {
		t.Fatal("something outdated, and all current")
	}
}
