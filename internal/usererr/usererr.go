// Package usererr marks errors caused by the user's input (bad files, flags, a missing lock),
// which graft reports with exit code 2, apart from failures of the work itself (exit 1).
package usererr

import (
	"errors"
	"fmt"

	"github.com/graft-build/graft/internal/tomldecode"
)

type badInput struct{ err error }

func (e *badInput) Error() string { return e.err.Error() }
func (e *badInput) Unwrap() error { return e.err }

// New is a bad-input error with a formatted message.
func New(format string, args ...any) error { return &badInput{fmt.Errorf(format, args...)} }

// Wrap marks err as bad input; nil stays nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return &badInput{err}
}

// Is reports whether err (or anything it wraps) is bad input, including file-format errors.
func Is(err error) bool {
	var b *badInput
	var te *tomldecode.Error
	var tes tomldecode.Errors
	return errors.As(err, &b) || errors.As(err, &te) || errors.As(err, &tes)
}
