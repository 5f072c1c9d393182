package publish

import (
	"testing"

	"github.com/graft-build/graft/internal/usererr"
)

// FuzzParse: any --output spec gives a publisher or a bad-input error, never a panic or a
// failure of another kind.
func FuzzParse(f *testing.F) {
	for _, s := range []string{DefaultSpec, "type=registry,name=r.test/a:b", "type=docker,dest=x.tar,name=a",
		"type=daemon", "type=oci,dest=,", "=,=", "type=oci,dest=a,tar=true"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := Parse(spec, Options{BaseDir: "/site", DefaultName: "r.test/lib/app"})
		if err != nil && !usererr.Is(err) {
			t.Fatalf("%q: error is not bad input: %v", spec, err)
		}
		if err == nil && p.String() == "" {
			t.Fatalf("%q: publisher without a description", spec)
		}
	})
}
