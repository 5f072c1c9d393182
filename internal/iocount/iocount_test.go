package iocount

import (
	"bytes"
	"errors"
	"testing"
)

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, errors.New("short") }

func TestWriterCountsWhatPassed(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf}
	w.Write([]byte("hello "))
	w.Write([]byte("world"))
	if w.N != 11 || buf.String() != "hello world" {
		t.Errorf("counted %d, wrote %q", w.N, buf.String())
	}
	s := &Writer{W: shortWriter{}}
	if _, err := s.Write([]byte("abcd")); err == nil || s.N != 2 {
		t.Errorf("a short write counted %d (err %v); want the 2 bytes taken", s.N, err)
	}
}
