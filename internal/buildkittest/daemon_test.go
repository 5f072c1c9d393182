package buildkittest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
)

// TestStartAnswers starts a daemon with mTLS and checks both addresses answer with the pinned
// version, and that the tcp address refuses a client without a certificate.
func TestStartAnswers(t *testing.T) {
	d := Start(t, WithMTLS())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(ctx, d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.BuildkitVersion.Version != Version {
		t.Errorf("daemon version %q, want %q", info.BuildkitVersion.Version, Version)
	}
	tc, err := client.New(ctx, d.TCPAddr, client.WithServerConfig("127.0.0.1", d.TLS.CA),
		client.WithCredentials(d.TLS.ClientCert, d.TLS.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.ListWorkers(ctx); err != nil {
		t.Fatalf("mTLS client: %v", err)
	}
	noCert, err := client.New(ctx, d.TCPAddr, client.WithServerConfig("127.0.0.1", d.TLS.CA))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	if _, err := noCert.ListWorkers(ctx); err == nil {
		t.Error("a client without a certificate was let in")
	}
	root := d.Root
	if err := d.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("root %s left behind: %v", root, err)
	}
}
