// Package svc is the runtime every iga service shares: configuration from flags and
// IGA_* environment variables, JSON logs, the NATS connection and directory, gRPC health,
// HTTP /healthz and /readyz, and ordered graceful shutdown.
package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
)

// Component is the business part of a service, started and stopped by the runtime.
type Component interface {
	// Start begins consuming and returns once the consumers run.
	Start(ctx context.Context) error
	// Stop stops consuming and waits for in-flight work to finish.
	Stop()
}

// GRPCService is implemented by components that serve gRPC.
type GRPCService interface {
	RegisterGRPC(s *grpc.Server)
}

// HTTPService is implemented by components that serve HTTP endpoints (webhooks from chat
// channels, callbacks from ITSM tools) beside /healthz and /readyz.
type HTTPService interface {
	RegisterHTTP(mux *http.ServeMux)
}

// Env is what the runtime hands a service when it builds its component.
type Env struct {
	Name string
	Bus  *bus.Bus
	Dir  *directory.Directory
	Log  *slog.Logger
	// Conn reaches the other services' gRPC APIs (one address: an ingress routing by
	// service name in production, the shared listener in `iga dev`).
	Conn *grpc.ClientConn
}

// Base is the configuration every service has.
type Base struct {
	NATSURL   string
	Replicas  int
	GRPCAddr  string
	HTTPAddr  string
	Upstream  string
	LogLevel  string
	LogFormat string
}

// Flags registers the base flags on fs with defaults.
func (b *Base) Flags(fs *flag.FlagSet, grpcPort, httpPort int) {
	fs.StringVar(&b.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server URL(s), comma separated")
	fs.IntVar(&b.Replicas, "replicas", 1, "replicas of streams and buckets (3 in a production cluster)")
	fs.StringVar(&b.GRPCAddr, "grpc-addr", fmt.Sprintf(":%d", grpcPort), "gRPC listen address (empty: none)")
	fs.StringVar(&b.HTTPAddr, "http-addr", fmt.Sprintf(":%d", httpPort), "HTTP listen address for /healthz and /readyz")
	fs.StringVar(&b.Upstream, "upstream", "127.0.0.1:7000", "gRPC address of the other services (an ingress routing by service name)")
	fs.StringVar(&b.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&b.LogFormat, "log-format", "json", "json or text")
}

// Parse parses args into fs. A flag not given on the command line is taken from the
// environment variable IGA_<FLAG_NAME> when set ("--nats-url" reads IGA_NATS_URL).
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is the environment variable a flag reads: IGA_ and the name in upper snake case.
func EnvName(flagName string) string {
	return "IGA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Logger builds the process logger.
func Logger(level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// Dial connects to NATS, ensures the topology and loads the directory.
func Dial(ctx context.Context, name string, b Base, log *slog.Logger) (*bus.Bus, *directory.Directory, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bb, err := bus.Connect(cctx, bus.Config{URL: b.NATSURL, Name: "iga/" + name, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	if err := bb.Ensure(cctx, bus.Topology{Replicas: b.Replicas}); err != nil {
		_ = bb.Close()
		return nil, nil, err
	}
	kv, err := bb.KV(cctx, bus.BucketDirectory)
	if err != nil {
		_ = bb.Close()
		return nil, nil, err
	}
	dir, err := directory.Watch(ctx, kv, log)
	if err != nil {
		_ = bb.Close()
		return nil, nil, err
	}
	return bb, dir, nil
}

// DialUpstream opens a client connection to the services' gRPC address.
func DialUpstream(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// Run is a service's whole life: dial, build, serve, and shut down in order on SIGINT or
// SIGTERM — health NOT_SERVING, gRPC GracefulStop, HTTP Shutdown, consumers, connection.
func Run(name string, b Base, build func(ctx context.Context, env Env) (Component, error)) error {
	log := Logger(b.LogLevel, b.LogFormat).With("service", name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bb, dir, err := Dial(ctx, name, b, log)
	if err != nil {
		return err
	}
	defer func() { _ = bb.Close() }()
	conn, err := DialUpstream(b.Upstream)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", b.Upstream, err)
	}
	defer conn.Close()
	comp, err := build(ctx, Env{Name: name, Bus: bb, Dir: dir, Log: log, Conn: conn})
	if err != nil {
		return fmt.Errorf("build %s: %w", name, err)
	}
	srv := NewServers(log, bb)
	if g, ok := comp.(GRPCService); ok {
		g.RegisterGRPC(srv.GRPC)
	}
	if h, ok := comp.(HTTPService); ok {
		h.RegisterHTTP(srv.HTTP)
	}
	if err := comp.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	log.Info("service started", "grpc", b.GRPCAddr, "http", b.HTTPAddr, "nats", bb.Conn().ConnectedUrlRedacted())
	err = srv.Serve(ctx, b.GRPCAddr, b.HTTPAddr)
	comp.Stop()
	log.Info("service stopped")
	return err
}

// Servers are the gRPC and HTTP servers of a process, with health wired to the bus.
type Servers struct {
	GRPC   *grpc.Server
	Health *health.Server
	HTTP   *http.ServeMux
	log    *slog.Logger
	bus    *bus.Bus
}

// NewServers builds a gRPC server with health and reflection, and an HTTP mux with
// /healthz (the process is alive) and /readyz (NATS and JetStream answer).
func NewServers(log *slog.Logger, b *bus.Bus) *Servers {
	s := &Servers{GRPC: grpc.NewServer(), Health: health.NewServer(), HTTP: http.NewServeMux(), log: log, bus: b}
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	reflection.Register(s.GRPC)
	s.HTTP.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.HTTP.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.bus.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return s
}

// Serve listens on both addresses until ctx ends, then shuts down in order.
func (s *Servers) Serve(ctx context.Context, grpcAddr, httpAddr string) error {
	g, gctx := errgroup.WithContext(ctx)
	var hs *http.Server
	if grpcAddr != "" {
		l, err := net.Listen("tcp", grpcAddr)
		if err != nil {
			return fmt.Errorf("gRPC address %s is not available (%v); pick another with --grpc-addr", grpcAddr, err)
		}
		s.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		g.Go(func() error { return s.GRPC.Serve(l) })
	}
	if httpAddr != "" {
		l, err := net.Listen("tcp", httpAddr)
		if err != nil {
			return fmt.Errorf("HTTP address %s is not available (%v); pick another with --http-addr", httpAddr, err)
		}
		hs = &http.Server{Handler: s.HTTP, ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		s.Health.Shutdown()
		stopped := make(chan struct{})
		go func() { s.GRPC.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			s.GRPC.Stop()
		}
		if hs != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}
		return nil
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}
