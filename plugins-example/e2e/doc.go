// Package e2e holds the end-to-end tests of the demo on the local Docker Engine: an image graft
// built runs as one container and as swarm services with three replicas per component, is
// updated with no failed request, and a broken update is rolled back automatically. The tests
// skip with a reason when Docker is missing, and fail instead under CI=true.
package e2e
