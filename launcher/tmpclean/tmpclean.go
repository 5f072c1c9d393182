// Package tmpclean empties the application's tmp folder at start, so lock files, pid files and
// half-written uploads left by the previous container do not break the next start. It removes
// the folder's contents only: never the folder itself or its parent, and never anything a
// symlink inside it points at (the link is removed, its target is untouched).
package tmpclean

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Clean removes everything inside dir. A missing dir is created (empty is what the app wants).
// All removals go through an os.Root opened on dir, so no path can resolve outside it, even if
// the app races to replace an entry with a symlink.
func Clean(dir string) error {
	clean := filepath.Clean(dir)
	if dir == "" || clean == "/" || clean == "." {
		return fmt.Errorf("clean tmp %q: refusing to empty this folder; set tmp_dir to the app's own tmp folder", dir)
	}
	if err := os.MkdirAll(clean, 0o755); err != nil {
		return fmt.Errorf("clean tmp %s: %w", clean, err)
	}
	root, err := os.OpenRoot(clean)
	if err != nil {
		return fmt.Errorf("clean tmp %s: %w", clean, err)
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return fmt.Errorf("clean tmp %s: %w", clean, err)
	}
	var first error
	failed := 0
	for _, e := range entries {
		if err := root.RemoveAll(e.Name()); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	switch {
	case failed == 1:
		return fmt.Errorf("clean tmp %s: %w", clean, first)
	case failed > 1:
		return fmt.Errorf("clean tmp %s: %w (and %d more entries)", clean, first, failed-1)
	}
	return nil
}
