// Package natsembed runs a NATS server with JetStream inside the process, for `iga dev`
// and for tests. Production runs a real cluster (deploy/).
package natsembed

import (
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for an embedded server.
type Options struct {
	// Host and Port to listen on; Port -1 picks a free port.
	Host string
	Port int
	// StoreDir holds JetStream data; empty uses a temporary folder.
	StoreDir string
	// MaxPayload is the largest message accepted; default 1 MiB.
	MaxPayload int32
}

// Start starts a server and waits until it accepts connections. JetStream writes are
// fsynced before they are acknowledged (sync_interval: always): the grants ledger and
// the event history are governance records that must survive a crash.
func Start(o Options) (*server.Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 1 << 20
	}
	opts := &server.Options{
		ServerName: "iga-embedded",
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		MaxPayload: o.MaxPayload,
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      true,
	}
	if o.Port > 0 {
		// Say clearly when the port is taken, before the server fails obscurely.
		l, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(o.Port)))
		if err != nil {
			return nil, fmt.Errorf("NATS port %d on %s is taken (%v); pick another with --nats-port", o.Port, o.Host, err)
		}
		_ = l.Close()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not become ready within 10s")
	}
	return s, nil
}
