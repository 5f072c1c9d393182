package attest

import (
	"sort"
	"strings"
	"sync"

	"github.com/google/licensecheck"
)

// minCoverage is how much of a licence file the classifier must recognise before graft names
// a licence: a file that is mostly something else (a custom licence, a notice with a licence
// quoted in it) is NOASSERTION rather than a guess.
const minCoverage = 75

// eclNotice is the ECL-2.0 notice ("Licensed under the Educational Community License, Version
// 2.0 ... limitations under the License."), which ArchivesSpace and its plugins ship as their
// COPYING or LICENSE file; licensecheck knows the full ECL-2.0 text but not this notice (it
// knows Apache's, which this follows word for word).
const eclNotice = `
((Licensed || licenses this __1__))
((to you))??
under the Educational Community License, Version 2.0
(( (the "License") ))??
((
	((and))??
	you may not use __5__
	except in compliance with the License
))??
((
	You may obtain a copy of the License at
	((http || https))??
	((www))??
	((
		opensource.org/licenses/ecl2.php
	||
		opensource.org/licenses/ecl2
	||
		opensource.org/licenses/ECL-2.0
	||
		osedu.org/licenses/ECL-2.0
	))
))??
((
	((Unless required by applicable law or agreed to in writing,))??
	((
		this file
	||
		software distributed under the License
	))
	is distributed on an "AS IS" BASIS,
	WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,
	either express or implied.
	See the License for the specific language governing permissions and
	limitations under the License.
))??
`

// scanner is licensecheck's built-in licences plus the ECL-2.0 notice; built once (about a
// second of CPU and 200 MB of allocations on this machine's 2 cores), then only read.
var scanner = sync.OnceValues(func() (*licensecheck.Scanner, error) {
	return licensecheck.NewScanner(append(licensecheck.BuiltinLicenses(), licensecheck.License{ID: "ECL-2.0", LRE: eclNotice}))
})

// DetectLicense is the SPDX expression of the licences in texts (each a licence file): the
// licences found, as current SPDX License List ids (see spdxExpression), sorted and joined with
// AND; "" when a file is not recognised well enough.
func DetectLicense(texts [][]byte) string {
	ids := map[string]bool{}
	for _, t := range texts {
		// The scanner is compiled on first use only: compiling licensecheck's licences allocates
		// about 200 MB, which a build whose plugins hold no licence file never pays.
		s, err := scanner()
		if err != nil {
			return "" // the LRE above is fixed and tested; never happens
		}
		cov := s.Scan(t)
		if cov.Percent < minCoverage || len(cov.Match) == 0 {
			return ""
		}
		full := false
		for _, m := range cov.Match {
			full = full || !m.IsURL
		}
		for _, m := range cov.Match {
			// A URL inside a licence text is a reference, not the file's licence: the ECL-2.0
			// text links the Apache 2.0 licence it derives from.
			if !full || !m.IsURL {
				ids[m.ID] = true
			}
		}
	}
	return spdxExpression(ids)
}

// textOnly are licensecheck's ids for a GNU licence's text without a notice saying "only" or
// "or later"; SPDX deprecated them. A notice elsewhere decides; else the text alone grants that
// version: "-only".
var textOnly = map[string]bool{"AGPL-1.0": true, "AGPL-3.0": true, "GPL-1.0": true, "GPL-2.0": true, "GPL-3.0": true,
	"LGPL-2.0": true, "LGPL-2.1": true, "LGPL-3.0": true, "GFDL-1.1": true, "GFDL-1.2": true, "GFDL-1.3": true}

// replaced are deprecated SPDX ids licensecheck reports, as current expressions.
var replaced = map[string]string{
	"GPL-2.0-with-classpath-exception": "GPL-2.0-only WITH Classpath-exception-2.0",
	"GPL-2.0-with-font-exception":      "GPL-2.0-only WITH Font-exception-2.0",
	"GPL-3.0-with-GCC-exception":       "GPL-3.0-only WITH GCC-exception-3.1",
	"GPL-3.0-with-autoconf-exception":  "GPL-3.0-only WITH Autoconf-exception-3.0",
	"eCos-2.0":                         "GPL-2.0-or-later WITH eCos-exception-2.0",
	"wxWindows":                        "GPL-2.0-or-later WITH WxWindows-exception-3.1",
	"GPL-2.0-or-3.0":                   "(GPL-2.0-only OR GPL-3.0-only)",
	"LGPL-2.0-or-3.0":                  "(LGPL-2.0-only OR LGPL-3.0-only)",
}

// notSPDX are licensecheck ids that are not on the SPDX License List; an SPDX document names
// them LicenseRef-ID and describes them in hasExtractedLicensingInfos.
var notSPDX = map[string]bool{"Aladdin-9": true, "Anti996": true, "BSD-1-Clause-Clear": true, "BSD-3-Clause-NoTrademark": true,
	"CC-BY-NC-SA-3.0-US": true, "CommonsClause": true, "GooglePatentClause": true, "GooglePatentsFile": true,
	"MIT-NoAd": true, "Prosperity-3.0.0": true}

// LicenseRefPrefix starts the ids of licences outside the SPDX License List.
const LicenseRefPrefix = "LicenseRef-"

// spdxExpression turns licensecheck ids into one SPDX expression of current ids.
func spdxExpression(ids map[string]bool) string {
	out := map[string]bool{}
	for id := range ids {
		switch {
		case textOnly[id]:
			if !hasVariant(ids, id) {
				out[id+"-only"] = true
			}
		case replaced[id] != "":
			out[replaced[id]] = true
		case notSPDX[id]:
			out[LicenseRefPrefix+id] = true
		default:
			out[id] = true
		}
	}
	list := make([]string, 0, len(out))
	for e := range out {
		list = append(list, e)
	}
	sort.Strings(list)
	return strings.Join(list, " AND ")
}

// hasVariant reports whether ids holds a notice-derived form of base ("GPL-3.0-or-later",
// "GFDL-1.3-invariants-only").
func hasVariant(ids map[string]bool, base string) bool {
	for id := range ids {
		if strings.HasPrefix(id, base+"-") {
			return true
		}
	}
	return false
}

// licenseIDs are the licences an expression names, without operators and exceptions: what an
// SPDX package lists in licenseInfoFromFiles.
func licenseIDs(expr string) []string {
	var out []string
	seen := map[string]bool{}
	f := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(expr))
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "AND", "OR":
			continue
		case "WITH":
			i++ // the exception
			continue
		}
		if !seen[f[i]] {
			seen[f[i]] = true
			out = append(out, f[i])
		}
	}
	return out
}
