package deploycheck

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/graft-build/graft/internal/usererr"
)

// SplitArgs tells the deploy files (.yml, .yaml) from the one IMAGE argument of
// `graft check-deploy` ("" when there is none); each file must be a regular file.
func SplitArgs(args []string) (files []string, image string, err error) {
	for _, a := range args {
		switch {
		case strings.HasSuffix(a, ".yml") || strings.HasSuffix(a, ".yaml"):
			files = append(files, a)
		case image != "":
			return nil, "", usererr.New("two images given (%s, %s): check one image at a time; deploy files end in .yml or .yaml", image, a)
		default:
			image = a
		}
	}
	if len(files) == 0 {
		return nil, "", usererr.New("no deploy file given: name the compose or stack files (FILE.yml or FILE.yaml)")
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			return nil, "", usererr.New("%s: cannot read it (%v); give a compose or stack file", f, errOr(err, "not a regular file"))
		}
	}
	return files, image, nil
}

// errOr is err's message without the path it names, or s when err is nil.
func errOr(err error, s string) string {
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err.Error()
		}
		return err.Error()
	}
	return s
}

// Print writes the report as `graft check-deploy` shows it: each problem, the notes (one
// repeated by every service said once), then the verdict on the services checked in files
// against the contract of against.
func (r *Report) Print(w io.Writer, files []string, against string) {
	where := strings.Join(files, "+")
	for _, f := range r.Problems {
		fmt.Fprintf(w, "%s: %s\n", where, f)
	}
	var order []string
	by := map[string][]string{}
	for _, f := range r.Notes {
		if _, seen := by[f.Message]; !seen {
			order = append(order, f.Message)
		}
		by[f.Message] = append(by[f.Message], f.Service)
	}
	for _, msg := range order {
		word := "service"
		if len(by[msg]) > 1 {
			word = "services"
		}
		fmt.Fprintf(w, "%s: note: %s %s: %s\n", where, word, strings.Join(by[msg], ", "), msg)
	}
	names := make([]string, len(r.Services))
	for i, s := range r.Services {
		names[i] = s.Name
	}
	verdict := "each gives what the image needs"
	if n := len(r.Problems); n > 0 {
		verdict = plural(n, "problem", "problems") + ": fix them before deploying"
	}
	fmt.Fprintf(w, "%s: %s checked against %s (%s): %s\n", where, plural(len(names), "service", "services"), against, strings.Join(names, ", "), verdict)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
