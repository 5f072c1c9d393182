package attest

import (
	"sort"
	"strings"

	"github.com/google/licensecheck"
)

// minCoverage is how much of a licence file the classifier must recognise before graft names
// a licence: a file that is mostly something else (a custom licence, a notice with a licence
// quoted in it) is NOASSERTION rather than a guess.
const minCoverage = 75

// DetectLicense is the SPDX expression of the licences in texts (each a licence file): the
// licences found, sorted and joined with AND; "" when a file is not recognised well enough.
func DetectLicense(texts [][]byte) string {
	ids := map[string]bool{}
	for _, t := range texts {
		cov := licensecheck.Scan(t)
		if cov.Percent < minCoverage || len(cov.Match) == 0 {
			return ""
		}
		for _, m := range cov.Match {
			ids[m.ID] = true
		}
	}
	if len(ids) == 0 {
		return ""
	}
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return strings.Join(out, " AND ")
}
