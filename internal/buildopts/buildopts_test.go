package buildopts

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/graft-build/graft/internal/usererr"
)

// The environment is read once, each variable once, and then only Env is consulted.
func TestEnvIsReadOnce(t *testing.T) {
	reads := map[string]int{}
	env, err := ReadEnv(func(k string) string {
		reads[k]++
		return map[string]string{EnvBuildkitHost: "tcp://env:1234", "GRAFT_CACHE_DIR": "/cache"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range reads {
		if n != 1 {
			t.Errorf("%s read %d times", k, n)
		}
	}
	if env.CacheDir != "/cache" {
		t.Errorf("cache dir %q", env.CacheDir)
	}
	var b BuildKit
	if got := b.Address(env); got != "tcp://env:1234" {
		t.Errorf("address from the environment: %q", got)
	}
	b.Addr = "unix:///flag.sock"
	if got := b.Address(env); got != "unix:///flag.sock" {
		t.Errorf("--buildkit wins: %q", got)
	}
}

// build and verify declare the BuildKit flags from one place; build adds its own.
func TestFlagsAreDeclaredOnce(t *testing.T) {
	var bo Build
	bf := pflag.NewFlagSet("build", pflag.ContinueOnError)
	bo.AddFlags(bf)
	var vo Verify
	vf := pflag.NewFlagSet("verify", pflag.ContinueOnError)
	vo.AddFlags(vf)
	for _, name := range []string{"buildkit", "tlscacert", "tlscert", "tlskey"} {
		if bf.Lookup(name) == nil || vf.Lookup(name) == nil {
			t.Errorf("--%s missing from build or verify", name)
		}
	}
	if vf.Lookup("output") != nil || bf.Lookup("buildkit-image") == nil {
		t.Error("verify takes build's own flags, or build lacks --buildkit-image")
	}
	if err := bf.Parse([]string{"--tlscacert", "ca.pem", "--platform", "linux/amd64,linux/arm64/v8"}); err != nil {
		t.Fatal(err)
	}
	if bo.BuildKit.TLSCA != "ca.pem" || len(bo.Platforms) != 2 || bo.Progress != "auto" {
		t.Errorf("parsed %+v", bo)
	}
}

func TestCheckRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		o    Build
		want string
	}{
		{Build{Progress: "fancy"}, `--progress "fancy"`},
		{Build{Progress: "auto", Platforms: []string{"linux"}}, `--platform "linux"`},
		{Build{Progress: "auto", Platforms: []string{"linux//v8"}}, `--platform "linux//v8"`},
	} {
		if err := c.o.Check(); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.o, err)
		}
	}
	if err := (&Build{Progress: "quiet", Platforms: []string{"linux/arm64/v8"}}).Check(); err != nil {
		t.Error(err)
	}
	if _, err := PlanOptions(Env{SourceDateEpoch: "yesterday"}); err == nil || !usererr.Is(err) {
		t.Errorf("a bad SOURCE_DATE_EPOCH: %v", err)
	}
	if opts, err := PlanOptions(Env{SourceDateEpoch: "1700000000"}); err != nil || len(opts) != 1 {
		t.Errorf("SOURCE_DATE_EPOCH: %v %d", err, len(opts))
	}
}
