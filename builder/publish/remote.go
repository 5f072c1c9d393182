package publish

// Pushes reports whether pub sends the image to a registry (type=registry or image, --push),
// where others pull it: graft refuses to push an image built with --override unless told to.
func Pushes(pub Publisher) bool {
	_, ok := pub.(*registryOut)
	return ok
}
