package buildcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/graft-build/graft/internal/atomicfile"
)

// foldersVersion changes when what a base's folder list holds changes.
const foldersVersion = 1

// FoldersID names the folders of base (a manifest digest) at paths.
func FoldersID(base v1.Hash, paths []string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%s\x00%s", foldersVersion, base, strings.Join(paths, "\x00"))))
	return hex.EncodeToString(sum[:])
}

// Folders are the folders of base at paths, as scan reads them from its layers: from a cache
// when one holds them, each entry checked to be one of paths, once, with permission bits only
// (under CheckAll they are scanned again). A cache can at most give one of those folders
// another owner or mode in the image's last layer; graft verify shows that.
func (c *Cache) Folders(base v1.Hash, paths []string, scan func() ([]Folder, error)) ([]Folder, error) {
	k := kind[[]Folder, []Folder]{
		load: func(id string) ([]Folder, bool) {
			var fs []Folder
			return fs, c.o.Check != CheckAll && readJSON(under(c.local.layers, "basedirs", id+".json"), &fs)
		},
		save: func(id string, fs []Folder) { writeJSON(under(c.local.layers, "basedirs", id+".json"), fs) },
		lookup: func(idx *Index, id string) ([]Folder, bool) {
			fs, ok := idx.Folders[id]
			return fs, ok && c.o.Check != CheckAll
		},
		export: func(id string, fs []Folder, _ []Folder) { c.used.Folders[id] = fs },
	}
	use := func(fs []Folder, _ found) ([]Folder, error) { return fs, checkFolders(fs, paths) }
	compute := func() ([]Folder, []Folder, error) {
		fs, err := scan()
		return fs, fs, err
	}
	return get(c, k, FoldersID(base, paths), "the base's folders", use, compute)
}

// checkFolders accepts folders among paths, each once, with permission bits only.
func checkFolders(fs []Folder, paths []string) error {
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	for _, f := range fs {
		if !want[f.Path] {
			return fmt.Errorf("it names %q, which is not a folder the build asked for", f.Path)
		}
		want[f.Path] = false
		if f.Mode&^0o7777 != 0 || f.UID < 0 || f.GID < 0 || (f.Link != "" && !validLink(f.Link)) {
			return fmt.Errorf("%s: owner %d:%d, mode %o", f.Path, f.UID, f.GID, f.Mode)
		}
	}
	return nil
}

func validLink(s string) bool { return len(s) <= maxLink && !strings.Contains(s, "\x00") }

// License is a licence verdict (by ID: the layer and the detector, see builder/attest): from a
// cache when one holds a well-formed one, else what detect says (under CheckAll, always). A
// cache can at most put another well-formed licence expression into the SBOM.
func (c *Cache) License(id string, detect func() (string, error)) (string, error) {
	k := kind[string, string]{
		load: func(id string) (string, bool) {
			data, ok := readFile(under(c.local.licenses, id))
			return string(data), ok && c.o.Check != CheckAll
		},
		save: func(id, lic string) {
			if file := under(c.local.licenses, id); file != "" && os.MkdirAll(c.local.licenses, 0o755) == nil {
				_ = atomicfile.Write(file, []byte(lic), 0o644) // failing to cache is not an error
			}
		},
		lookup: func(idx *Index, id string) (string, bool) {
			lic, ok := idx.Licenses[id]
			return lic, ok && c.o.Check != CheckAll
		},
		export: func(id, lic, _ string) { c.used.Licenses[id] = lic },
	}
	use := func(lic string, _ found) (string, error) {
		if !validLicense(lic) {
			return "", fmt.Errorf("%q is not a licence expression", lic)
		}
		return lic, nil
	}
	compute := func() (string, string, error) {
		lic, err := detect()
		return lic, lic, err
	}
	return get(c, k, id, "a licence verdict", use, compute)
}

// validLicense accepts what an SPDX licence expression is made of, and nothing long: the
// verdict goes into an SBOM as is.
func validLicense(s string) bool {
	if len(s) > 256 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" .-+():", r)) {
			return false
		}
	}
	return true
}

// launcherRecord proves a kept launcher binary was built on this machine.
type launcherRecord struct {
	SHA256 string `json:"sha256"`
	MAC    string `json:"mac"`
}

// Launcher is the graft-launcher binary file of graft release version, built by build when
// the local cache holds none that this machine built (a binary cannot be checked short of
// building it again, so one without this machine's MAC — restored, copied, edited — is built
// again). Launchers are never shared through --cache-to.
func (c *Cache) Launcher(version, file string, build func() ([]byte, error)) ([]byte, error) {
	bin := ""
	if plainName(version) && plainName(file) {
		bin = under(c.local.launchers, version, file)
	}
	k := kind[[]byte, []byte]{
		load:   func(string) ([]byte, bool) { return readFile(bin) },
		save:   func(_ string, data []byte) { c.keepLauncher(bin, version, file, data) },
		lookup: func(*Index, string) ([]byte, bool) { return nil, false },
		export: func(string, []byte, []byte) {},
	}
	use := func(data []byte, _ found) ([]byte, error) {
		var r launcherRecord
		sum := sha256.Sum256(data)
		if !readJSON(bin+".mac", &r) || r.SHA256 != hex.EncodeToString(sum[:]) ||
			!c.local.own(r.MAC, "launcher/1", version, file, r.SHA256) {
			return nil, errors.New("not built on this machine (no MAC of its key)")
		}
		return data, nil
	}
	compute := func() ([]byte, []byte, error) {
		data, err := build()
		return data, data, err
	}
	return get(c, k, version+"/"+file, "graft-launcher "+version+" "+file, use, compute)
}

// keepLauncher writes a launcher binary and its MAC; failing to cache is not an error.
func (c *Cache) keepLauncher(bin, version, file string, data []byte) {
	if bin == "" || c.local.key == nil || os.MkdirAll(filepath.Dir(bin), 0o755) != nil {
		return
	}
	sum := sha256.Sum256(data)
	r := launcherRecord{SHA256: hex.EncodeToString(sum[:])}
	r.MAC = c.local.mac("launcher/1", version, file, r.SHA256)
	if atomicfile.Write(bin, data, 0o755) == nil {
		writeJSON(bin+".mac", r)
	}
}

// plainName accepts a name that is one path element.
func plainName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}
