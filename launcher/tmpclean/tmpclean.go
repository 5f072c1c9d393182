// Package tmpclean empties the application's tmp folder at start, so lock files, pid files and
// half-written uploads left by the previous container do not break the next start.
//
// Emptying a folder is the one thing the launcher does that can destroy data, so the folder is
// checked before anything is removed: an absolute path, not the filesystem root, not a
// symlink, and neither the same folder as, nor a folder holding, anything else the launcher
// uses (the plugins, the port files, templates and their outputs, its own configuration).
// The walk itself never follows a symlink at any depth: every folder is opened relative to
// its parent's descriptor with O_NOFOLLOW, and a link is removed, never its target. os.Root
// is not enough here: it follows a symlinked root. Mount points inside the folder (another
// filesystem) are left alone, as `rm --one-file-system` does.
package tmpclean

import (
	"errors"
	"fmt"
	"io"
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

// Check does Clean's checks without changing anything, so the launcher can refuse a dangerous
// tmp_dir as bad configuration before it starts anything. A missing dir passes (Clean creates
// it).
func Check(dir string, protected []string) error {
	clean, err := CheckPath(dir)
	if err != nil {
		return err
	}
	if err := checkNotHoldingPath(clean, protected); err != nil {
		return err
	}
	if _, err := os.Lstat(clean); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	fd, err := openTmp(clean)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("tmp_dir %s: %w", clean, err)
	}
	return checkNotHolding(clean, st, protected)
}

// Clean removes everything inside dir (never dir itself). A missing dir is created. protected
// are the absolute paths the launcher also uses: dir may be neither one of them nor a folder
// that holds one. It returns the mount points it left alone.
func Clean(dir string, protected []string) (skipped []string, err error) {
	clean, err := CheckPath(dir)
	if err != nil {
		return nil, err
	}
	if err := checkNotHoldingPath(clean, protected); err != nil {
		return nil, err
	}
	fd, err := openTmp(clean)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("clean tmp %s: %w", clean, err)
	}
	if err := checkNotHolding(clean, st, protected); err != nil {
		return nil, err
	}
	w := &walker{dev: st.Dev}
	err = w.empty(fd, clean, 0)
	return w.skipped, err
}

// openTmp opens dir as a folder without following a symlink at its last component, creating it
// (and missing parents, owned by the launcher's user) when it does not exist.
func openTmp(dir string) (int, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			if errors.Is(err, os.ErrPermission) {
				return -1, fmt.Errorf("tmp_dir %s does not exist and uid %d cannot create it (%v): build the image with graft build, which creates tmp_dir owned by graft.toml's owner, or create it in the base image owned by uid %d", dir, os.Geteuid(), err, os.Geteuid())
			}
			return -1, fmt.Errorf("clean tmp %s: %w", dir, err)
		}
		fi, err = os.Lstat(dir)
	}
	switch {
	case err != nil:
		return -1, fmt.Errorf("clean tmp %s: %w", dir, err)
	case fi.Mode()&os.ModeSymlink != 0:
		return -1, fmt.Errorf("tmp_dir %s is a symlink; refusing to empty what it points at: set tmp_dir to the real folder", dir)
	case !fi.IsDir():
		return -1, fmt.Errorf("tmp_dir %s is not a folder", dir)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("clean tmp %s: %w", dir, err)
	}
	return fd, nil
}

// checkNotHoldingPath is checkNotHolding by name alone, for paths that do not exist yet (a
// template's dest, a port folder the launcher is about to create).
func checkNotHoldingPath(tmp string, protected []string) error {
	for _, p := range protected {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		switch p = filepath.Clean(p); {
		case p == tmp:
			return holdingError(tmp, "is "+p)
		case strings.HasPrefix(p, tmp+"/"):
			return holdingError(tmp, "holds "+p)
		}
	}
	return nil
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

// walker empties folders through descriptors.
type walker struct {
	dev     uint64 // the tmp folder's filesystem; folders on another one are mount points
	skipped []string
}

// empty removes every entry of the folder open as fd (shown as name in messages). It does not
// close fd.
func (w *walker) empty(fd int, name string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("clean tmp %s: folders nested deeper than %d levels", name, maxDepth)
	}
	// A second descriptor for reading names: os.File takes ownership of what it is given.
	dup, err := unix.Dup(fd)
	if err != nil {
		return fmt.Errorf("clean tmp %s: %w", name, err)
	}
	dir := os.NewFile(uintptr(dup), name)
	defer dir.Close()
	var first error
	failed := 0
	for {
		names, err := dir.Readdirnames(256)
		for _, n := range names {
			if err := w.remove(fd, name, n, depth); err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		}
		if err == io.EOF || (err == nil && len(names) == 0) {
			break
		}
		if err != nil {
			return fmt.Errorf("clean tmp %s: %w", name, err)
		}
	}
	switch {
	case failed == 1:
		return first
	case failed > 1:
		return fmt.Errorf("%w (and %d more entries)", first, failed-1)
	}
	return nil
}

// remove removes the entry n of the folder open as parent, emptying it first when it is a
// folder on the same filesystem.
func (w *walker) remove(parent int, parentName, n string, depth int) error {
	path := filepath.Join(parentName, n)
	var st unix.Stat_t
	if err := unix.Fstatat(parent, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // gone already (the app's own cleanup racing us)
		}
		return fmt.Errorf("clean tmp %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if st.Dev != w.dev {
			w.skipped = append(w.skipped, path)
			return nil
		}
		fd, err := unix.Openat(parent, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
			// Swapped for a symlink or file since the stat: remove that, follow nothing.
			return w.unlink(parent, parentName, n, 0)
		case err != nil:
			return fmt.Errorf("clean tmp %s: %w", path, err)
		}
		// A folder the app made read-only still has to be emptied; we own it (or are root).
		if st.Mode&0o300 != 0o300 {
			unix.Fchmod(fd, 0o700)
		}
		err = w.empty(fd, path, depth+1)
		unix.Close(fd)
		if err != nil {
			return err
		}
		return w.unlink(parent, parentName, n, unix.AT_REMOVEDIR)
	}
	return w.unlink(parent, parentName, n, 0)
}

// unlink removes n from parent. A permission error in a read-only parent is retried once
// after making the parent writable.
func (w *walker) unlink(parent int, parentName, n string, flags int) error {
	err := unix.Unlinkat(parent, n, flags)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		if unix.Fchmod(parent, 0o700) == nil {
			err = unix.Unlinkat(parent, n, flags)
		}
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("clean tmp %s: %w", filepath.Join(parentName, n), err)
	}
	return nil
}
