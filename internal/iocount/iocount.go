// Package iocount counts the bytes that pass through a writer: the compressed size of a
// layer as it is written (builder/layer, and the bench's big base).
package iocount

import "io"

// Writer passes every write on to W and counts the bytes W took in N.
type Writer struct {
	W io.Writer
	N int64
}

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
