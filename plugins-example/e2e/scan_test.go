package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// scanImageTar walks a `docker save` tar, opening every layer (gzip or plain tar) and every
// file in it, and returns which needles appear anywhere, and how many files it read.
func scanImageTar(r io.Reader, needles []string) ([]string, int, error) {
	found := map[string]bool{}
	n, err := scanTar(r, needles, found, 0)
	var list []string
	for s := range found {
		list = append(list, s)
	}
	return list, n, err
}

func scanTar(r io.Reader, needles []string, found map[string]bool, depth int) (int, error) {
	tr := tar.NewReader(r)
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return files, fmt.Errorf("read tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return files, err
		}
		files++
		search(data, needles, found)
		if depth == 0 {
			files += scanNested(data, needles, found)
		}
	}
}

// scanNested opens a layer blob: gzip-compressed or plain tar.
func scanNested(data []byte, needles []string, found map[string]bool) int {
	var r io.Reader = bytes.NewReader(data)
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bufio.NewReader(r))
		if err != nil {
			return 0
		}
		r = zr
	}
	n, _ := scanTar(r, needles, found, 1)
	return n
}

func search(data []byte, needles []string, found map[string]bool) {
	for _, s := range needles {
		if bytes.Contains(data, []byte(s)) {
			found[s] = true
		}
	}
}
