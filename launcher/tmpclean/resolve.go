package tmpclean

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxLinks bounds the symlinks followed while resolving one path, as the kernel's ELOOP does.
const maxLinks = 40

// resolve returns the absolute, clean path p with every symlink in it resolved, and the
// symlinks it crossed. Unlike filepath.EvalSymlinks it accepts a path whose end does not exist
// yet (a port folder or a template's dest the launcher is about to create): from the first
// missing component on, the rest is joined as written.
func resolve(p string) (real string, links []string, err error) {
	real = "/"
	rest := strings.Split(p, "/")
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			real = filepath.Dir(real) // real holds no symlink: its parent is lexical
			continue
		}
		next := filepath.Join(real, c)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			return filepath.Join(append([]string{next}, rest...)...), links, nil
		case err != nil:
			return "", nil, err
		case fi.Mode()&os.ModeSymlink == 0:
			real = next
			continue
		}
		if hops++; hops > maxLinks {
			return "", nil, fmt.Errorf("%s: %w", p, syscall.ELOOP)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", nil, err
		}
		links = append(links, next)
		if filepath.IsAbs(target) {
			real = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return real, links, nil
}

// RealPath is tmp_dir as the launcher empties it: dir checked and cleaned, with every
// symlinked ancestor resolved. Its last component is never followed (Clean refuses a symlink
// there).
func RealPath(dir string) (string, error) {
	clean, err := CheckPath(dir)
	if err != nil {
		return "", err
	}
	parent, _, err := resolve(filepath.Dir(clean))
	if err != nil {
		return "", fmt.Errorf("tmp_dir %s: %w", clean, err)
	}
	return filepath.Join(parent, filepath.Base(clean)), nil
}

// realTmp resolves tmp_dir's ancestors and checks each symlink it crossed: one owned by a
// user other than root or the launcher's own could be pointed anywhere by that user, and the
// launcher (often root) would empty whatever folder of the same name it finds there.
func realTmp(clean string) (string, error) {
	parent, links, err := resolve(filepath.Dir(clean))
	if err != nil {
		return "", fmt.Errorf("tmp_dir %s: %w", clean, err)
	}
	for _, l := range links {
		var st unix.Stat_t
		if err := unix.Lstat(l, &st); err != nil {
			return "", fmt.Errorf("tmp_dir %s: %w", clean, err)
		}
		if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
			return "", fmt.Errorf("tmp_dir %s: its folder %s is a symlink owned by uid %d; the launcher follows a symlinked folder above tmp_dir only when root or its own user (uid %d) owns the link: set tmp_dir to the real folder", clean, l, st.Uid, os.Geteuid())
		}
	}
	return filepath.Join(parent, filepath.Base(clean)), nil
}

// openReal opens the folder real (a path holding no symlink) one component at a time, each
// relative to its parent with O_NOFOLLOW: if any component was swapped for a symlink since
// real was resolved, the open fails instead of following it.
func openReal(real string) (int, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(strings.TrimPrefix(real, "/"), "/") {
		if c == "" {
			continue
		}
		next, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}
