// Package tmpclean empties the application's tmp folder at start, so lock files, pid files and
// half-written uploads left by the previous container do not break the next start.
//
// Emptying a folder is the one thing the launcher does that can destroy data, so the folder is
// checked before anything is removed: an absolute path, not the filesystem root, not a
// symlink itself, and neither the same folder as, nor a folder holding, anything else the
// launcher uses (the plugins, the port files, templates and their outputs, its own
// configuration), compared by name, by name with every symlink resolved, and by device and
// inode. A symlinked folder above tmp_dir is followed once, when it is resolved (and only when
// root or the launcher's user owns the link); everything after that works on the real path.
// The walk itself never follows a symlink at any depth: every folder is opened relative to
// its parent's descriptor with O_NOFOLLOW, and a link is removed, never its target. os.Root
// is not enough here: it follows a symlinked root. Mount points inside the folder (told by
// mount ID, so a bind mount of the same filesystem counts) and anything that is one of the
// protected paths (reached through a bind mount elsewhere) are left alone.
package tmpclean

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/graft-build/graft/launcher/config"
)

// maxDepth bounds the walk: each level holds one descriptor.
const maxDepth = 512

// CheckPath validates a tmp_dir as written (launcher.toml, graft.toml or GRAFT_TMP_DIR) and
// returns it cleaned. It touches no file. Clean checks again itself: it is the one place that
// removes files.
func CheckPath(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("tmp_dir is empty; set it to the app's own tmp folder")
	}
	if err := config.CheckDir("tmp_dir", dir); err != nil {
		return "", err
	}
	return filepath.Clean(dir), nil
}

// Kept is an entry of tmp_dir that Clean left alone, and why.
type Kept struct {
	Path   string
	Reason string
}

// Check does Clean's checks without changing anything, so the launcher can refuse a dangerous
// tmp_dir as bad configuration before it starts anything. A missing dir passes (Clean creates
// it).
func Check(dir string, protected []string) error {
	t, err := open(dir, protected, false)
	if t != nil {
		unix.Close(t.fd)
	}
	return err
}

// Clean removes everything inside dir (never dir itself). A missing dir is created. protected
// are the absolute paths the launcher also uses: dir may be neither one of them nor a folder
// that holds one. It returns what it left alone: mount points and anything that is one of
// protected (reached through a bind mount, say).
func Clean(dir string, protected []string) ([]Kept, error) {
	return clean(dir, protected, mountsByStatx)
}

func clean(dir string, protected []string, how mountMode) ([]Kept, error) {
	t, err := open(dir, protected, true)
	if err != nil {
		return nil, err
	}
	defer unix.Close(t.fd)
	w, err := newWalker(t, protected, how)
	if err != nil {
		return nil, err
	}
	_, err = w.empty(t.fd, t.real, 0)
	return w.kept, err
}

// tmpDir is tmp_dir checked and open.
type tmpDir struct {
	clean string // as configured, cleaned
	real  string // every symlinked ancestor resolved
	fd    int
	st    unix.Stat_t
}

// open checks tmp_dir against protected and opens it; with create, a missing one is created,
// else a missing one is nil with no error.
func open(dir string, protected []string, create bool) (*tmpDir, error) {
	clean, err := CheckPath(dir)
	if err != nil {
		return nil, err
	}
	if err := checkNotHoldingPath(clean, clean, protected); err != nil {
		return nil, err
	}
	real, err := realTmp(clean)
	if err != nil {
		return nil, err
	}
	if err := checkNotHoldingResolved(clean, real, protected); err != nil {
		return nil, err
	}
	fd, err := openTmp(clean, real, create)
	if err != nil || fd < 0 {
		return nil, err
	}
	t := &tmpDir{clean: clean, real: real, fd: fd}
	if err := unix.Fstat(fd, &t.st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tmp_dir %s: %w", clean, err)
	}
	if err := checkNotHolding(clean, t.st, protected); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return t, nil
}

// openTmp opens real (tmp_dir with its ancestors resolved) as a folder without following a
// symlink anywhere on the way, creating it (and missing parents, owned by the launcher's user)
// when create is set and it does not exist. Without create a missing folder is -1, no error.
func openTmp(dir, real string, create bool) (int, error) {
	fi, err := os.Lstat(real)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return -1, nil
		}
		if err := os.MkdirAll(real, 0o755); err != nil {
			if errors.Is(err, os.ErrPermission) {
				return -1, fmt.Errorf("tmp_dir %s does not exist and uid %d cannot create it (%v): build the image with graft build, which creates tmp_dir owned by graft.toml's owner, or create it in the base image owned by uid %d", dir, os.Geteuid(), err, os.Geteuid())
			}
			return -1, fmt.Errorf("clean tmp %s: %w", dir, err)
		}
		fi, err = os.Lstat(real)
	}
	switch {
	case err != nil:
		return -1, fmt.Errorf("clean tmp %s: %w", dir, err)
	case fi.Mode()&os.ModeSymlink != 0:
		return -1, fmt.Errorf("tmp_dir %s is a symlink; refusing to empty what it points at: set tmp_dir to the real folder", dir)
	case !fi.IsDir():
		return -1, fmt.Errorf("tmp_dir %s is not a folder", dir)
	}
	fd, err := openReal(real)
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("tmp_dir %s (%s) changed into a symlink while being checked; refusing to empty it", dir, real)
	case err != nil:
		return -1, fmt.Errorf("clean tmp %s: %w", dir, err)
	}
	return fd, nil
}

// checkNotHoldingPath is checkNotHolding by name alone, for paths that do not exist yet (a
// template's dest, a port folder the launcher is about to create). tmp is the path compared,
// shown names tmp_dir in messages.
func checkNotHoldingPath(shown, tmp string, protected []string) error {
	for _, p := range protected {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		switch p = filepath.Clean(p); {
		case p == tmp:
			return holdingError(shown, "is "+p)
		case strings.HasPrefix(p, tmp+"/"):
			return holdingError(shown, "holds "+p)
		}
	}
	return nil
}

// checkNotHoldingResolved is checkNotHoldingPath on real paths: tmp_dir with its ancestors
// resolved against each protected path with every symlink in it resolved, so a plugins_dir
// that is a symlink into tmp_dir counts as inside it.
func checkNotHoldingResolved(clean, real string, protected []string) error {
	for _, p := range protected {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		rp, _, err := resolve(filepath.Clean(p))
		if err != nil {
			return fmt.Errorf("tmp_dir %s: cannot tell whether it holds %s, which the launcher also uses: %w", clean, p, err)
		}
		switch {
		case rp == real:
			return holdingError(clean, "is "+p+describeReal(p, rp))
		case strings.HasPrefix(rp, real+"/"):
			return holdingError(clean, "holds "+p+describeReal(p, rp))
		}
	}
	return nil
}

func describeReal(p, rp string) string {
	if filepath.Clean(p) == rp {
		return ""
	}
	return " (through a symlink: " + rp + ")"
}

func holdingError(tmp, what string) error {
	return fmt.Errorf("tmp_dir %s %s, which the launcher also uses; refusing to empty it: give the app a tmp folder of its own", tmp, what)
}

// checkNotHolding refuses a tmp folder that is the root or the same folder (by device and
// inode, so bind mounts and symlinked ancestors count too) as one of protected or one of their
// ancestors.
func checkNotHolding(tmp string, st unix.Stat_t, protected []string) error {
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err == nil && sameFile(st, root) {
		return fmt.Errorf("tmp_dir %s is the filesystem root; set it to the app's own tmp folder", tmp)
	}
	for _, p := range protected {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		for q := filepath.Clean(p); ; q = filepath.Dir(q) {
			var qs unix.Stat_t
			if err := unix.Stat(q, &qs); err == nil && sameFile(st, qs) {
				what := "holds " + p
				if q == filepath.Clean(p) {
					what = "is " + p
				}
				return holdingError(tmp, what)
			}
			if q == "/" || q == "." {
				break
			}
		}
	}
	return nil
}

func sameFile(a, b unix.Stat_t) bool { return a.Dev == b.Dev && a.Ino == b.Ino }
