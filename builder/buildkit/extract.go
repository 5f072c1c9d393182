package buildkit

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// fixedTime is the mtime of every extracted plugin file. The steps' cache key must not change
// with the build's epoch (it may be derived from all plugins, and a change to another plugin
// must not re-run this one's steps); the layer's mtimes are set later by builder/layer.
var fixedTime = time.Unix(0, 0)

// extractPlugin writes the plugin's files (the entries of the tar at or below pluginDir) into
// dest, relative to pluginDir, with their modes. Parents of pluginDir are skipped; anything else
// outside it is an error.
func extractPlugin(open func() (io.ReadCloser, error), pluginDir, dest string) error {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("plugin files: %w", err)
	}
	defer rc.Close()
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("plugin files: %w", err)
	}
	root := path.Clean("/" + pluginDir)
	tr := tar.NewReader(rc)
	var dirs []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("plugin files: %w", err)
		}
		name := path.Clean("/" + h.Name)
		rel, ok := relTo(name, root)
		if !ok {
			if strings.HasPrefix(root, name+"/") || name == "/" {
				continue // a parent of the plugin folder: the base's, not the plugin's
			}
			return fmt.Errorf("plugin files: %s is outside %s", name, root)
		}
		if rel == "" {
			continue // the plugin folder itself is made by the copy
		}
		target := filepath.Join(dest, filepath.FromSlash(rel))
		if err := extractEntry(h, tr, target, dest, root); err != nil {
			return fmt.Errorf("plugin files: %s: %w", name, err)
		}
		if h.Typeflag == tar.TypeDir {
			dirs = append(dirs, target)
		}
	}
	// Directory mtimes last: writing their contents changed them.
	for _, d := range dirs {
		if err := os.Chtimes(d, fixedTime, fixedTime); err != nil {
			return fmt.Errorf("plugin files: %w", err)
		}
	}
	return nil
}

// relTo is name relative to root ("" for root itself), if name is at or below root.
func relTo(name, root string) (string, bool) {
	if name == root {
		return "", true
	}
	if root == "/" {
		return strings.TrimPrefix(name, "/"), true
	}
	rel, ok := strings.CutPrefix(name, root+"/")
	return rel, ok
}

func extractEntry(h *tar.Header, r io.Reader, target, dest, root string) error {
	if err := inside(existing(filepath.Dir(target)), dest); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(h.Mode & 0o7777)
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		return chmod(target, mode)
	case tar.TypeReg, tar.TypeRegA:
		return writeFile(target, r, mode)
	case tar.TypeSymlink:
		return os.Symlink(h.Linkname, target)
	case tar.TypeLink:
		rel, ok := relTo(path.Clean("/"+h.Linkname), root)
		if !ok || rel == "" {
			return fmt.Errorf("hard link to %s, outside the plugin folder", h.Linkname)
		}
		return os.Link(filepath.Join(dest, filepath.FromSlash(rel)), target)
	default:
		return fmt.Errorf("unsupported tar entry type %q", h.Typeflag)
	}
}

func writeFile(target string, r io.Reader, mode os.FileMode) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := chmod(target, mode); err != nil {
		return err
	}
	return os.Chtimes(target, fixedTime, fixedTime)
}

// chmod sets all permission bits, setuid/setgid/sticky included (os.Chmod takes Go's mode bits).
func chmod(p string, mode os.FileMode) error {
	m := mode & 0o777
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return os.Chmod(p, m)
}

// inside refuses a folder that a symlink among the plugin's own entries moved out of dest: a
// repository can hold "dir -> /etc" followed by "dir/file".
func inside(dir, dest string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	realDest, err := filepath.EvalSymlinks(dest)
	if err != nil {
		return err
	}
	if real != realDest && !strings.HasPrefix(real, realDest+string(filepath.Separator)) {
		return fmt.Errorf("path goes through a symlink out of the plugin folder")
	}
	return nil
}

// existing is p or its closest ancestor that exists.
func existing(p string) string {
	for {
		if _, err := os.Lstat(p); err == nil || filepath.Dir(p) == p {
			return p
		}
		p = filepath.Dir(p)
	}
}
