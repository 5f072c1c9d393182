//go:build !linux

package publish

func exchange(_, _ string) error { return errNoExchange }
