// Package bustest gives tests a real embedded NATS server with iga's topology.
package bustest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/natsembed"
)

// Server starts an embedded NATS server (JetStream, a temporary store, a free port)
// that stops when the test ends.
func Server(t testing.TB) *server.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("embedded NATS: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// Connect returns a bus on s with the topology ensured, closed when the test ends.
func Connect(t testing.TB, s *server.Server, name string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, bus.Config{URL: s.ClientURL(), Name: name})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if err := b.Ensure(ctx, bus.Topology{}); err != nil {
		t.Fatalf("ensure topology: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// New starts a server and connects a bus to it.
func New(t testing.TB) *bus.Bus {
	t.Helper()
	return Connect(t, Server(t), "iga/test")
}
