//go:build !unix

package publish

import "context"

// lockBeside does nothing where there is no flock: concurrent builds to one dest are then
// not serialized (each swap is still whole).
func lockBeside(ctx context.Context, _ string) (func(), error) {
	return func() {}, ctx.Err()
}
