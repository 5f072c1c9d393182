package deploycheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-build/graft/internal/usererr"
)

func TestSplitArgs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte("services: {}\n"), 0o644)
	os.WriteFile(b, []byte("services: {}\n"), 0o644)
	files, image, err := SplitArgs([]string{a, "reg.example/app:v1", b})
	if err != nil || image != "reg.example/app:v1" || strings.Join(files, " ") != a+" "+b {
		t.Fatalf("got %v %q %v", files, image, err)
	}
	if files, image, err := SplitArgs([]string{a}); err != nil || image != "" || len(files) != 1 {
		t.Fatalf("no image: %v %q %v", files, image, err)
	}
	for args, want := range map[string]string{
		"x:v1 y:v2 " + a:            "two images given (x:v1, y:v2)",
		"x:v1":                      "no deploy file given",
		filepath.Join(dir, "c.yml"): "c.yml: cannot read it (no such file or directory)",
		filepath.Join(dir, "d.yml"): "d.yml: cannot read it (not a regular file)",
	} {
		os.Mkdir(filepath.Join(dir, "d.yml"), 0o755)
		_, _, err := SplitArgs(strings.Fields(args))
		if !usererr.Is(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want bad input %q", args, err, want)
		}
	}
}

func TestReportPrint(t *testing.T) {
	r := &Report{
		Services: []Service{{Name: "web"}, {Name: "worker"}},
		Problems: []Finding{{Service: "web", Components: []string{"web"}, Message: "DB is not given"}},
		Notes:    []Finding{{Service: "web", Message: "DB_FILE names secret db"}, {Service: "worker", Message: "DB_FILE names secret db"}, {Service: "worker", Message: "runs exec"}},
	}
	var b strings.Builder
	r.Print(&b, []string{"a.yml", "b.yml"}, "reg/app:v1")
	want := `a.yml+b.yml: service web (web): DB is not given
a.yml+b.yml: note: services web, worker: DB_FILE names secret db
a.yml+b.yml: note: service worker: runs exec
a.yml+b.yml: 2 services checked against reg/app:v1 (web, worker): 1 problem: fix them before deploying
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	(&Report{Services: []Service{{Name: "web"}}}).Print(&b, []string{"s.yml"}, "graft.toml")
	if want := "s.yml: 1 service checked against graft.toml (web): each gives what the image needs\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
