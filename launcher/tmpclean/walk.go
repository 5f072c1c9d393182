package tmpclean

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountMode is how the walk tells mount points.
type mountMode int

const (
	// mountsByStatx compares each entry's mount ID (statx STATX_MNT_ID, Linux 5.8+) with
	// tmp_dir's, and reads STATX_ATTR_MOUNT_ROOT: a bind mount of a folder of the same
	// filesystem has the same device number, so devices alone cannot tell it. Falls back to
	// mountsByTable where the kernel gives no mount ID.
	mountsByStatx mountMode = iota
	// mountsByTable reads the mount points from /proc/self/mountinfo once and compares each
	// entry's real path with them.
	mountsByTable
)

// identity is a file's device and inode.
type identity struct{ dev, ino uint64 }

// entry is what the walk needs to know of one name.
type entry struct {
	id    identity
	mode  uint32 // type and permission bits
	mount bool   // the root of a mount
}

// walker empties folders through descriptors.
type walker struct {
	how       mountMode
	root      identity            // tmp_dir's device (a folder on another is another filesystem)
	mnt       uint64              // tmp_dir's mount ID (mountsByStatx)
	mounts    map[string]bool     // mount points by real path (mountsByTable)
	protected map[identity]string // what the launcher uses, by identity, to path
	kept      []Kept
}

func newWalker(t *tmpDir, protected []string, how mountMode) (*walker, error) {
	w := &walker{how: how, protected: map[identity]string{}}
	if how == mountsByStatx {
		var stx unix.Statx_t
		err := unix.Statx(t.fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_MNT_ID, &stx)
		if err != nil || stx.Mask&unix.STATX_MNT_ID == 0 {
			w.how = mountsByTable
		} else {
			w.mnt = stx.Mnt_id
		}
	}
	if w.how == mountsByTable {
		m, err := mountPoints()
		if err != nil {
			return nil, fmt.Errorf("clean tmp %s: this kernel gives no mount IDs and %v; the launcher will not empty a folder without telling its mount points: mount /proc", t.clean, err)
		}
		w.mounts = m
	}
	root, err := w.stat(t.fd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return nil, fmt.Errorf("clean tmp %s: %w", t.clean, err)
	}
	w.root = root.id
	for _, p := range protected {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		if e, err := w.stat(unix.AT_FDCWD, p, 0); err == nil {
			w.protected[e.id] = p
		}
	}
	return w, nil
}

// stat describes name in the folder open as dir (flags: unix.AT_*).
func (w *walker) stat(dir int, name string, flags int) (entry, error) {
	if w.how == mountsByStatx {
		var stx unix.Statx_t
		err := unix.Statx(dir, name, flags|unix.AT_NO_AUTOMOUNT, unix.STATX_TYPE|unix.STATX_INO|unix.STATX_MNT_ID, &stx)
		if err != nil {
			return entry{}, err
		}
		root := stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
		return entry{
			id:    identity{unix.Mkdev(stx.Dev_major, stx.Dev_minor), stx.Ino},
			mode:  uint32(stx.Mode),
			mount: root || stx.Mnt_id != w.mnt,
		}, nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, flags|unix.AT_NO_AUTOMOUNT); err != nil {
		return entry{}, err
	}
	return entry{id: identity{st.Dev, st.Ino}, mode: st.Mode}, nil
}

// empty removes every entry of the folder open as fd (whose real path is name). It reports
// whether it left any entry alone. It does not close fd.
func (w *walker) empty(fd int, name string, depth int) (kept bool, err error) {
	if depth > maxDepth {
		return false, fmt.Errorf("clean tmp %s: folders nested deeper than %d levels", name, maxDepth)
	}
	// A second descriptor for reading names: os.File takes ownership of what it is given.
	dup, err := unix.Dup(fd)
	if err != nil {
		return false, fmt.Errorf("clean tmp %s: %w", name, err)
	}
	dir := os.NewFile(uintptr(dup), name)
	defer dir.Close()
	var first error
	failed := 0
	for {
		names, err := dir.Readdirnames(256)
		for _, n := range names {
			k, err := w.remove(fd, name, n, depth)
			kept = kept || k
			if err != nil {
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
			return kept, fmt.Errorf("clean tmp %s: %w", name, err)
		}
	}
	switch {
	case failed == 1:
		return kept, first
	case failed > 1:
		return kept, fmt.Errorf("%w (and %d more entries)", first, failed-1)
	}
	return kept, nil
}

// keep records path as left alone.
func (w *walker) keep(path, reason string) (bool, error) {
	w.kept = append(w.kept, Kept{Path: path, Reason: reason})
	return true, nil
}

// remove removes the entry n of the folder open as parent, emptying it first when it is a
// folder; it leaves mount points and what the launcher uses alone (reporting true).
func (w *walker) remove(parent int, parentName, n string, depth int) (bool, error) {
	path := filepath.Join(parentName, n)
	e, err := w.stat(parent, n, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil // gone already (the app's own cleanup racing us)
		}
		return false, fmt.Errorf("clean tmp %s: %w", path, err)
	}
	switch {
	case e.mount || (w.mounts != nil && w.mounts[path]):
		return w.keep(path, "it is a mount point")
	case e.mode&unix.S_IFMT == unix.S_IFDIR && e.id.dev != w.root.dev:
		// Folders only: overlayfs may report a file's underlying device (overlayfs.rst,
		// "Inode properties"), and a file that is a mount point is told by its mount above.
		return w.keep(path, "it is on another filesystem")
	case w.protected[e.id] != "":
		return w.keep(path, "it is "+w.protected[e.id]+", which the launcher also uses")
	case e.mode&unix.S_IFMT != unix.S_IFDIR:
		return false, w.unlink(parent, parentName, n, 0)
	}
	fd, err := unix.Openat(parent, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		// Swapped for a symlink or file since the stat: remove that, follow nothing.
		return false, w.unlink(parent, parentName, n, 0)
	case err != nil:
		return false, fmt.Errorf("clean tmp %s: %w", path, err)
	}
	defer unix.Close(fd)
	// What was opened must be what was checked: a folder swapped in since the stat (a mount
	// point, say) is checked again.
	if now, err := w.stat(fd, "", unix.AT_EMPTY_PATH); err != nil || now.id != e.id || now.mount {
		if err != nil {
			return false, fmt.Errorf("clean tmp %s: %w", path, err)
		}
		return w.keep(path, "it changed while being emptied")
	}
	// A folder the app made read-only still has to be emptied; we own it (or are root).
	if e.mode&0o300 != 0o300 {
		unix.Fchmod(fd, 0o700)
	}
	kept, err := w.empty(fd, path, depth+1)
	if kept || err != nil {
		return kept, err
	}
	return false, w.unlink(parent, parentName, n, unix.AT_REMOVEDIR)
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

// mountPoints reads the mount points of the launcher's mount namespace from
// /proc/self/mountinfo (field 5, octal-escaped).
func mountPoints() (map[string]bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		out[unescapeMount(fields[4])] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("/proc/self/mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes the kernel's \ooo escaping of space, tab, newline and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
