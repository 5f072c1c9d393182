package buildkit

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graft-build/graft/internal/usererr"
)

// minVersion is the oldest BuildKit graft's build steps work on: llb.Diff/llb.Merge arrived in
// v0.10, the OCI layout source (bases without a registry) and the Info call in v0.11.
const minVersion = "v0.11.0"

// probe asks the daemon for its version: it proves the daemon is reachable, and an old daemon
// (Docker 20.10's embedded BuildKit is about v0.8) gets a clear error here instead of a silent
// difference or an obscure failure in the middle of a build.
func (e *Engine) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	info, err := e.c.Info(ctx)
	if err != nil {
		return e.probeError(err)
	}
	e.version = info.BuildkitVersion.Version
	if older(e.version, minVersion) {
		return usererr.New("BuildKit at %s is %s, too old for graft's build steps (llb.Diff needs v0.10, OCI layout bases v0.11): use --buildkit auto (starts a current buildkitd in a Docker container) or a buildkitd >= %s", e.addr, e.version, minVersion)
	}
	return nil
}

func (e *Engine) probeError(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return usererr.New("BuildKit at %s is too old for graft's build steps (it has no Info call, so it predates v0.11; llb.Diff needs v0.10, OCI layout bases v0.11): use --buildkit auto (starts a current buildkitd in a Docker container) or a buildkitd >= %s, e.g. --buildkit docker-container://NAME", e.addr, minVersion)
	}
	return usererr.New("BuildKit at %s is not reachable (%s): start buildkitd there, or give another address with --buildkit or BUILDKIT_HOST", e.addr, oneLine(err))
}

// older reports whether version v is before min. Versions that do not parse (development
// builds, "v0.0.0+unknown" from a source build without version flags) count as recent: they
// answered Info, which only v0.11 and later have.
func older(v, min string) bool {
	a, okA := parseVersion(v)
	b, okB := parseVersion(min)
	if !okA || !okB || a == [3]int{} {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "-")
	v, _, _ = strings.Cut(v, "+")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// helperFailure is how BuildKit's connection helpers (docker-container://, kube-pod://) report a
// command that could not reach buildkitd.
var helperFailure = regexp.MustCompile(`command \[([^\]]*)\] has exited with ([^,]*),.*?stderr=(.*)$`)

// oneLine shortens a dial error to its cause, on one line.
func oneLine(err error) string {
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	if m := helperFailure.FindStringSubmatch(msg); m != nil {
		msg = m[1] + ": " + m[2]
		if last := lastLine(m[3]); last != "" {
			msg += ": " + last
		}
	}
	for _, noise := range []string{"failed to call info: ", "Unavailable: ", "connection error: ", "desc = ",
		"transport: ", "Error while dialing: "} {
		msg = strings.ReplaceAll(msg, noise, "")
	}
	msg = strings.Trim(msg, `"\ `)
	return strings.Join(strings.Fields(msg), " ")
}

// lastLine is the last non-empty line of a command's stderr as a quoted Go string shows it.
func lastLine(stderr string) string {
	stderr = strings.ReplaceAll(stderr, `\n`, "\n")
	lines := strings.Split(strings.TrimRight(stderr, "\n\"): "), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.Trim(lines[i], `"\ `); l != "" {
			return l
		}
	}
	return ""
}
