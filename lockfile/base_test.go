package lockfile

import (
	"strings"
	"testing"
)

// Base tags compare as versions of the same shape: prefix, number of numbers and variant suffix.
func TestNewerBaseTags(t *testing.T) {
	tags := []string{"latest", "4", "4.1", "4.1.1", "4.1.2", "4.2", "4.2.0", "4.10.0", "4.2.0-rc1", "4.2.0-jdk17",
		"4.1.1-jdk17", "5.0.0-jdk17", "v4.3.0", "4.0.9", "4.2.0.1", "4.2.0+build", "nightly"}
	for cur, want := range map[string]string{
		"4.1.1":       "4.1.2 4.2.0 4.10.0",
		"4.1":         "4.2",
		"4.1.1-jdk17": "4.2.0-jdk17 5.0.0-jdk17",
		"v4.1.1":      "v4.3.0",
		"4.10.0":      "",
		"latest":      "",
		"4":           "",
	} {
		if got := strings.Join(newerBaseTags(tags, cur), " "); got != want {
			t.Errorf("%s: got %q, want %q", cur, got, want)
		}
	}
}

// The base value of graft.toml is edited in place, whatever else the file holds.
func TestEditStringBase(t *testing.T) {
	in := "# site\nbase = 'reg/aspace:4.1.1'   # the official image\nname = \"reg/aspace:4.1.1\"\n\n[launcher]\ntmp_dir = \"/tmp/x\"\n"
	got, err := EditString("graft.toml", []byte(in), "base", "reg/aspace:4.2.0")
	if want := strings.Replace(in, "'reg/aspace:4.1.1'", "'reg/aspace:4.2.0'", 1); err != nil || string(got) != want {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
	if _, err := EditString("graft.toml", []byte("[x]\nbase = \"a\"\n"), "base", "b"); err == nil || !strings.Contains(err.Error(), "found 0 base string values; set base = \"b\" by hand") {
		t.Errorf("base in another table: %v", err)
	}
}
