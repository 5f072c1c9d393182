package buildkit

import (
	"context"
	"net"

	"github.com/moby/buildkit/client"
	dockerclient "github.com/moby/moby/client"

	"github.com/graft-build/graft/internal/usererr"
)

// dockerEngine reaches the BuildKit embedded in a Docker Engine the way buildx's docker driver
// does: the engine upgrades POST /grpc to BuildKit's control API (h2c) and POST /session to the
// client session. host is what follows docker://: empty for DOCKER_HOST or the default socket,
// else the engine's own address (unix:///var/run/docker.sock, tcp://HOST:2375).
func dockerEngine(host string) ([]client.ClientOpt, func() error, error) {
	dopts := []dockerclient.Opt{dockerclient.FromEnv}
	if host != "" {
		dopts = append(dopts, dockerclient.WithHost(host))
	}
	dc, err := dockerclient.New(dopts...)
	if err != nil {
		return nil, nil, usererr.New("BuildKit address docker://%s: %v", host, err)
	}
	opts := []client.ClientOpt{
		client.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return dc.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		client.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return dc.DialHijack(ctx, "/session", proto, meta)
		}),
	}
	return opts, dc.Close, nil
}
