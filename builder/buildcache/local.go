package buildcache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/graft-build/graft/builder/layercache"
	"github.com/graft-build/graft/internal/atomicfile"
)

// The local cache is a folder on this machine, but not one graft alone writes: CI restores it
// from an archive (actions/cache, GitLab's cache) that another branch's pipeline may have
// saved, and anyone who can write the folder can edit it. So a record is this machine's only
// when it carries a MAC made with a key kept outside every cache folder (keyFile, 0600): what
// graft made or checked here is then used without reading it again, and everything else —
// a restored or copied cache, an edited record, a record of an older graft — is a claim,
// checked like an imported entry. Listings, base folders and licence verdicts carry no MAC:
// listings are checked against the lock on every read, and the others are validated claims
// either way (see the package comment).

// keySize is the MAC key's length.
const keySize = 32

// loadKey reads the local cache's key, making it on first use; nil when there is no place for
// it (then no record is this machine's, and every one is checked in full).
func loadKey(file string) ([]byte, error) {
	if file == "" {
		return nil, errors.New("no key file")
	}
	key, err := readKey(file)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	key = make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		tmp.Close()
		return nil, err
	}
	_, err = tmp.Write(key)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// Link, not rename: two builds making the key at once agree on the first one.
	if err := os.Link(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return readKey(file)
}

// readKey reads a key file that is a regular file of keySize bytes only its owner can read.
func readKey(file string) ([]byte, error) {
	st, err := os.Lstat(file)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 || st.Size() != keySize {
		return nil, fmt.Errorf("%s is not a %d-byte file only its owner can read (mode %v); delete it and graft makes a new one", file, keySize, st.Mode())
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	key := make([]byte, keySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, err
	}
	return key, nil
}

// local is the cache on this machine.
type local struct {
	layers    string // blobs, and keys/, listings/, basedirs/ records; "" keeps nothing
	licenses  string
	launchers string
	key       []byte // nil: no record is this machine's
}

// mac authenticates fields with the local key.
func (l *local) mac(fields ...string) string {
	m := hmac.New(sha256.New, l.key)
	for _, f := range fields {
		fmt.Fprintf(m, "%d:%s", len(f), f)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// own says whether sum is the MAC of fields under this machine's key.
func (l *local) own(sum string, fields ...string) bool {
	return l.key != nil && sum != "" && hmac.Equal([]byte(sum), []byte(l.mac(fields...)))
}

// maxRecord bounds a local record read into memory (a listing of many thousand files stays far
// below; a launcher binary is megabytes).
const maxRecord = layercache.MaxIndex

// readFile reads a local record, a regular file of at most maxRecord bytes.
func readFile(file string) ([]byte, bool) {
	if file == "" {
		return nil, false
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxRecord {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	return data, err == nil && len(data) <= maxRecord
}

// readJSON reads a record into v; false when there is none or it does not parse.
func readJSON(file string, v any) bool {
	data, ok := readFile(file)
	return ok && json.Unmarshal(data, v) == nil
}

// writeJSON records v; failing to cache is not an error.
func writeJSON(file string, v any) {
	if file == "" {
		return
	}
	data, err := json.Marshal(v)
	if err != nil || os.MkdirAll(filepath.Dir(file), 0o755) != nil {
		return
	}
	_ = atomicfile.Write(file, data, 0o644)
}

// under joins a local folder and a record's name; "" when the folder is not kept.
func under(dir string, elem ...string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(append([]string{dir}, elem...)...)
}
