package elfcheck_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/builder/buildtest"
	"github.com/graft-build/graft/internal/elfcheck"
)

var amd64, arm64 = v1.Platform{OS: "linux", Architecture: "amd64"}, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}

func TestStatic(t *testing.T) {
	dir := buildtest.LauncherDir(t, "amd64", "arm64")
	static, _ := os.ReadFile(filepath.Join(dir, "graft-launcher-linux-amd64"))
	staticArm, _ := os.ReadFile(filepath.Join(dir, "graft-launcher-linux-arm64"))
	if err := elfcheck.Static(static, amd64); err != nil {
		t.Errorf("static amd64 launcher refused: %v", err)
	}
	if err := elfcheck.Static(staticArm, arm64); err != nil {
		t.Errorf("static arm64 launcher refused: %v", err)
	}
	cases := []struct {
		name string
		data []byte
		p    v1.Platform
		want string
	}{
		{"wrong arch", static, arm64, "built for amd64 (ELFCLASS64), the image is linux/arm64/v8"},
		{"wrong arch the other way", staticArm, amd64, "built for arm64"},
		{"a script", []byte("#!/bin/sh\nexec /app/start\n"), amd64, "not an ELF executable"},
		{"empty", nil, amd64, "not an ELF executable"},
		{"not linux", static, v1.Platform{OS: "windows", Architecture: "amd64"}, "linux only"},
	}
	if true1, err := os.ReadFile("/bin/true"); err == nil {
		cases = append(cases, struct {
			name string
			data []byte
			p    v1.Platform
			want string
		}{"dynamic system binary", true1, amd64, "dynamically linked (interpreter /lib"})
	}
	for _, c := range cases {
		if err := elfcheck.Static(c.data, c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
