package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/console"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/natsembed"
	"github.com/agentic-iga/iga/pkg/scimtarget"
	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/agent/agent"
	"github.com/agentic-iga/iga/services/approval/approval"
	"github.com/agentic-iga/iga/services/expiry/expiry"
	"github.com/agentic-iga/iga/services/intake/intake"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/workbench"
	"github.com/agentic-iga/iga/services/provisioner/provisioner"
)

// devConfig is everything `iga dev` can be told.
type devConfig struct {
	Host         string
	DataDir      string
	NATSPort     int
	GRPCPort     int
	HTTPPort     int
	SCIMPort     int
	SCIMToken    string
	RedisURL     string
	DemoDir      string
	PolicyFile   string
	LogLevel     string
	LogFormat    string
	LogFile      string
	RedisPrefix  string
	Planner      string
	GeminiAPIKey string
	GeminiModel  string
	// Redis, when set, is used instead of RedisURL (tests and benchmarks pass theirs).
	Redis *redis.Client
}

func newDevCmd(g *globals) *cobra.Command {
	c := devConfig{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system in this process: embedded NATS, Redis, demo data, a SCIM target and all six services",
		Long: `Runs intake, agent, policy, approval, provisioner and expiry in one process, on an
embedded NATS server (JetStream, data in --data-dir, fsync on every write), with Redis from
REDIS_URL or else an embedded Redis-protocol server, the demo directory, catalog and policy
from --demo, and a demo SCIM 2.0 target so grants visibly land somewhere. One gRPC listener
serves every service, as an ingress routing by service name would in production.`,
		Example: "  iga dev\n  iga dev --data-dir /tmp/iga --grpc-port 7100 --nats-port 4334",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, err := startDev(ctx, c, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "\nshutting down…")
			st.Close()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Host, "host", "127.0.0.1", "address every listener binds to")
	f.StringVar(&c.DataDir, "data-dir", envOr("IGA_DATA_DIR", ".data"), "folder for NATS JetStream data (env IGA_DATA_DIR)")
	f.IntVar(&c.NATSPort, "nats-port", 4333, "embedded NATS client port (not 4222, so a system NATS can run beside it)")
	f.IntVar(&c.GRPCPort, "grpc-port", 7000, "gRPC port serving every service")
	f.IntVar(&c.HTTPPort, "http-port", 7080, "HTTP port: web console, /healthz, /readyz, Slack events")
	f.IntVar(&c.SCIMPort, "scim-port", 7090, "demo SCIM 2.0 target port")
	f.StringVar(&c.SCIMToken, "scim-token", "dev-scim-token", "bearer token of the demo SCIM target")
	f.StringVar(&c.RedisURL, "redis-url", os.Getenv("REDIS_URL"), "Redis for conversation state (env REDIS_URL); empty runs an embedded one")
	f.StringVar(&c.RedisPrefix, "redis-prefix", "iga:agent:", "prefix of the agent's Redis keys")
	f.StringVar(&c.Planner, "planner", "", "the agent's planner: builtin, or gemini (default: gemini when a Gemini API key is set, else builtin)")
	f.StringVar(&c.GeminiAPIKey, "gemini-api-key", geminiKeyFromEnv(), "Gemini API key (env IGA_GEMINI_API_KEY or GEMINI_API_KEY)")
	f.StringVar(&c.GeminiModel, "gemini-model", "", "Gemini model (default: the agent's)")
	f.StringVar(&c.DemoDir, "demo", envOr("IGA_DEMO_DIR", "deploy/demo"), "folder with people.yaml, catalog.yaml and policy.yaml")
	f.StringVar(&c.PolicyFile, "policy-file", "", "policy file (default: policy.yaml in --demo)")
	f.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&c.LogFormat, "log-format", "json", "json or text")
	f.StringVar(&c.LogFile, "log-file", "", "service logs (default: iga.log in --data-dir; \"-\" for standard error)")
	return cmd
}

// devStack is a running `iga dev`.
type devStack struct {
	GRPCAddr string
	NATSURL  string
	SCIMURL  string
	HTTPAddr string
	SCIM     *scimtarget.Target
	closers  []func()
}

// Close stops everything in the reverse order of starting.
func (s *devStack) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

func (s *devStack) onClose(f func()) { s.closers = append(s.closers, f) }

// listen binds host:port and says how to pick another port when it is taken.
func listen(host string, port int, what, flagName string) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("%s port %d is not available (%v): pick another with --%s", what, port, err, flagName)
	}
	return l, nil
}

// startDev starts the whole stack and returns once it serves. Ports of 0 pick free ones.
func startDev(ctx context.Context, c devConfig, out io.Writer) (_ *devStack, err error) {
	st := &devStack{}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	logOut := io.Writer(os.Stderr)
	if c.LogFile == "" && c.DataDir != "" && out != io.Discard {
		// The terminal shows what a person needs; the services' JSON logs go to a file.
		c.LogFile = filepath.Join(c.DataDir, "iga.log")
		if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data folder %s: %w", c.DataDir, err)
		}
	}
	if c.LogFile != "" && c.LogFile != "-" {
		f, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("log file: %w", err)
		}
		st.onClose(func() { _ = f.Close() })
		logOut = f
	}
	log := newLogger(logOut, c.LogLevel, c.LogFormat)

	// Listeners first, so a taken port is reported before anything starts.
	grpcL, err := listen(c.Host, c.GRPCPort, "gRPC", "grpc-port")
	if err != nil {
		return nil, err
	}
	st.onClose(func() { _ = grpcL.Close() })
	httpL, err := listen(c.Host, c.HTTPPort, "HTTP", "http-port")
	if err != nil {
		return nil, err
	}
	st.onClose(func() { _ = httpL.Close() })
	scimL, err := listen(c.Host, c.SCIMPort, "SCIM", "scim-port")
	if err != nil {
		return nil, err
	}
	st.onClose(func() { _ = scimL.Close() })
	st.GRPCAddr, st.HTTPAddr = grpcL.Addr().String(), httpL.Addr().String()

	// NATS, embedded.
	natsPort := c.NATSPort
	if natsPort == 0 {
		natsPort = -1
	}
	ns, err := natsembed.Start(natsembed.Options{Host: c.Host, Port: natsPort, StoreDir: filepath.Join(c.DataDir, "nats")})
	if err != nil {
		return nil, err
	}
	st.onClose(func() { ns.Shutdown(); ns.WaitForShutdown() })
	st.NATSURL = ns.ClientURL()

	// Redis: the given one, or an embedded Redis-protocol server.
	rdb, redisNote := c.Redis, any("given")
	if rdb == nil {
		if rdb, redisNote, err = devRedis(ctx, c.RedisURL); err != nil {
			return nil, err
		}
		st.onClose(func() { _ = rdb.Close() })
	}
	if m, ok := redisNote.(*miniredis.Miniredis); ok {
		st.onClose(m.Close)
	}

	// The demo directory, into the directory bucket every service watches.
	loader, err := bus.Connect(ctx, bus.Config{URL: st.NATSURL, Name: "iga/loader", Logger: log})
	if err != nil {
		return nil, err
	}
	st.onClose(func() { _ = loader.Close() })
	if err := loader.Ensure(ctx, bus.Topology{Replicas: 1}); err != nil {
		return nil, err
	}
	snap, err := directory.LoadDir(c.DemoDir)
	if err != nil {
		return nil, fmt.Errorf("load the demo directory from %s (set --demo to the folder with people.yaml and catalog.yaml): %w", c.DemoDir, err)
	}
	kv, err := loader.KV(ctx, bus.BucketDirectory)
	if err != nil {
		return nil, err
	}
	if err := directory.Publish(ctx, kv, snap); err != nil {
		return nil, err
	}

	// The demo SCIM target.
	st.SCIM = scimtarget.New(c.SCIMToken)
	scimSrv := &http.Server{Handler: st.SCIM.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = scimSrv.Serve(scimL) }()
	st.onClose(func() { _ = scimSrv.Close() })
	st.SCIMURL = "http://" + scimL.Addr().String()

	// One gRPC server for every service, one HTTP server for health and the console.
	servers := svc.NewServers(log, loader)
	upstream, err := svc.DialUpstream(st.GRPCAddr)
	if err != nil {
		return nil, err
	}
	st.onClose(func() { _ = upstream.Close() })

	policyFile := c.PolicyFile
	if policyFile == "" {
		policyFile = filepath.Join(c.DemoDir, "policy.yaml")
	}
	specs := []struct {
		name  string
		build func(env svc.Env) (svc.Component, error)
	}{
		{"policy", func(env svc.Env) (svc.Component, error) {
			var cfg policy.Config
			if err := configure(cfg.Flags, map[string]string{"policy-file": policyFile}); err != nil {
				return nil, err
			}
			return workbench.NewPolicyService(env, cfg)
		}},
		{"provisioner", func(env svc.Env) (svc.Component, error) {
			var cfg provisioner.Config
			if err := configure(cfg.Flags, map[string]string{"scim-url": st.SCIMURL + "/scim/v2", "scim-token": c.SCIMToken}); err != nil {
				return nil, err
			}
			return provisioner.New(env, cfg)
		}},
		{"approval", func(env svc.Env) (svc.Component, error) {
			var cfg approval.Config
			if err := configure(cfg.Flags, nil); err != nil {
				return nil, err
			}
			return approval.New(env, cfg)
		}},
		{"expiry", func(env svc.Env) (svc.Component, error) {
			var cfg expiry.Config
			if err := configure(cfg.Flags, nil); err != nil {
				return nil, err
			}
			return expiry.New(env, cfg)
		}},
		{"agent", func(env svc.Env) (svc.Component, error) {
			var cfg agent.Config
			over := map[string]string{}
			if c.RedisPrefix != "" {
				over["redis-prefix"] = c.RedisPrefix
			}
			if c.GeminiAPIKey != "" {
				over["gemini-api-key"] = c.GeminiAPIKey
				over["planner"] = "gemini"
			}
			if c.Planner != "" {
				over["planner"] = c.Planner
			}
			if c.GeminiModel != "" {
				over["gemini-model"] = c.GeminiModel
			}
			if err := configure(cfg.Flags, over); err != nil {
				return nil, err
			}
			return agent.NewWithRedis(env, cfg, rdb)
		}},
		{"intake", func(env svc.Env) (svc.Component, error) {
			var cfg intake.Config
			if err := configure(cfg.Flags, nil); err != nil {
				return nil, err
			}
			return intake.New(env, cfg)
		}},
	}
	var comps []svc.Component
	for _, spec := range specs {
		slog := log.With("service", spec.name)
		b, dir, err := svc.Dial(ctx, spec.name, svc.Base{NATSURL: st.NATSURL, Replicas: 1}, slog)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.name, err)
		}
		st.onClose(func() { _ = b.Close() })
		comp, err := spec.build(svc.Env{Name: spec.name, Bus: b, Dir: dir, Log: slog, Conn: upstream})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.name, err)
		}
		if gs, ok := comp.(svc.GRPCService); ok {
			gs.RegisterGRPC(servers.GRPC)
		}
		if h, ok := comp.(svc.HTTPService); ok {
			h.RegisterHTTP(servers.HTTP)
		}
		comps = append(comps, comp)
	}
	servers.HTTP.Handle("/", console.Handler(upstream, log.With("service", "console")))
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- serveOn(serveCtx, servers, grpcL, httpL) }()
	// Components stop before the connections they use (closers run in reverse).
	st.onClose(func() {
		for i := len(comps) - 1; i >= 0; i-- {
			comps[i].Stop()
		}
	})
	st.onClose(func() { stopServing(); <-served })
	for i, comp := range comps {
		if err := comp.Start(ctx); err != nil {
			return nil, fmt.Errorf("start %s: %w", specs[i].name, err)
		}
	}
	accessFile := filepath.Join(c.DemoDir, "access.yaml")
	existing, err := importAccess(ctx, loader, snap, accessFile)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, `iga is running (all six services in this process)
  gRPC        %s   (iga CLI: --addr, env IGA_ADDR)
  console     http://%s/
  NATS        %s   (JetStream data in %s, fsync always)
  Redis       %s
  SCIM target %s/scim/v2   (bearer %s)
  directory   %d people, %d apps, %d entitlements from %s
%s  logs        %s
Try:  iga chat --as dana.reyes@acme.example "I need to look at the payments dashboards for the audit this week"
Ctrl-C stops everything.
`, st.GRPCAddr, st.HTTPAddr, st.NATSURL, c.DataDir, describeRedis(redisNote, c.RedisURL), st.SCIMURL, c.SCIMToken,
		len(snap.People), len(snap.Apps), len(snap.Entitlements), c.DemoDir, existing.banner(accessFile), logWhere(c.LogFile))
	return st, nil
}

// imported is what importAccess did.
type imported struct {
	found bool
	// active: recorded by this start; before: already in the ledger; failed: refused or
	// failed (the log says why); waiting: still being worked on when the wait ended.
	active, before, failed, waiting int
}

func (im imported) banner(file string) string {
	if !im.found {
		return ""
	}
	line := fmt.Sprintf("  existing access  %d grants imported from %s", im.active, file)
	var notes []string
	if im.before > 0 {
		notes = append(notes, fmt.Sprintf("%d already in the ledger", im.before))
	}
	if im.failed > 0 {
		notes = append(notes, fmt.Sprintf("%d failed: see the log", im.failed))
	}
	if im.waiting > 0 {
		notes = append(notes, fmt.Sprintf("%d still importing", im.waiting))
	}
	if len(notes) > 0 {
		line += " (" + strings.Join(notes, "; ") + ")"
	}
	return line + "\n"
}

// importWait bounds how long start-up waits for the provisioner to record imported access.
const importWait = 60 * time.Second

// importAccess asks the provisioner, the ledger's only writer, to record the access
// people already hold (access.yaml, when the demo folder has one): one import command per
// entry not yet in the ledger, each with a message id of its own, so `iga dev` restarted
// on the same data imports nothing twice. It waits (up to importWait) until the ledger
// shows each one recorded, so the stack starts with its existing access in place.
func importAccess(ctx context.Context, b *bus.Bus, snap *directory.Snapshot, file string) (imported, error) {
	access, err := directory.LoadAccess(file, snap)
	if errors.Is(err, fs.ErrNotExist) {
		return imported{}, nil
	}
	if err != nil {
		return imported{}, fmt.Errorf("existing access (fix it, or remove it to start with none): %w", err)
	}
	kv, err := b.KV(ctx, bus.BucketGrants)
	if err != nil {
		return imported{}, err
	}
	ledger := bus.NewStore(kv, func() *igav1.Grant { return &igav1.Grant{} })
	im := imported{found: true}
	now := time.Now().UTC()
	var sent []string
	for _, a := range access {
		id := provisioner.ImportGrantID(a.PersonEmail, a.EntitlementID)
		if _, _, err := ledger.Get(ctx, id); err == nil {
			im.before++
			continue
		}
		cmd := &igav1.ImportGrant{PersonEmail: a.PersonEmail, EntitlementId: a.EntitlementID, Source: file,
			ReviewAt: timestamppb.New(now.Add(a.ReviewAfter))}
		if _, err := b.Publish(ctx, provisioner.SubjectImportCmd, cmd, bus.WithID("cmd-"+id)); err != nil {
			return im, fmt.Errorf("import %s for %s: %w", a.EntitlementID, a.PersonEmail, err)
		}
		sent = append(sent, id)
	}
	deadline := time.Now().Add(importWait)
	for len(sent) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		waiting := sent[:0]
		for _, id := range sent {
			g, _, err := ledger.Get(ctx, id)
			switch {
			case err != nil || g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_PENDING:
				waiting = append(waiting, id)
			case g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE:
				im.active++
			default:
				im.failed++
			}
		}
		sent = waiting
		if len(sent) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	im.waiting = len(sent)
	return im, nil
}

// serveOn serves gRPC and HTTP on already-bound listeners until ctx ends, then shuts
// down in order: health NOT_SERVING, gRPC GracefulStop, HTTP Shutdown.
func serveOn(ctx context.Context, s *svc.Servers, grpcL, httpL net.Listener) error {
	s.Health.SetServingStatus("", 1)
	// Long-lived console streams (Server-Sent Events) end when serving ends, so they do
	// not hold GracefulStop open.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	hs := &http.Server{Handler: s.HTTP, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return streams }}
	errc := make(chan error, 2)
	go func() { errc <- s.GRPC.Serve(grpcL) }()
	go func() { errc <- hs.Serve(httpL) }()
	<-ctx.Done()
	s.Health.Shutdown()
	endStreams()
	stopped := make(chan struct{})
	go func() { s.GRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.GRPC.Stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}

// configure fills a service Config from its own flag definitions: defaults, then overrides.
func configure(register func(*flag.FlagSet), overrides map[string]string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs)
	if err := fs.Parse(nil); err != nil {
		return err
	}
	for k, v := range overrides {
		if fs.Lookup(k) == nil {
			return fmt.Errorf("internal: service has no flag --%s", k)
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("--%s=%s: %w", k, v, err)
		}
	}
	return nil
}

// devRedis connects to url, or starts an embedded Redis-protocol server when url is empty.
func devRedis(ctx context.Context, url string) (*redis.Client, any, error) {
	if url == "" {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return nil, nil, fmt.Errorf("embedded Redis: %w", err)
		}
		return redis.NewClient(&redis.Options{Addr: m.Addr()}), m, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL %q: %w (expected redis://host:port)", url, err)
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("Redis at %s does not answer (%v): start it, or unset REDIS_URL to use an embedded one", opts.Addr, err)
	}
	return c, nil, nil
}

func describeRedis(note any, url string) string {
	if note == "given" {
		return "the client given"
	}
	if m, ok := note.(*miniredis.Miniredis); ok {
		return "embedded Redis-protocol server at " + m.Addr() + " (no REDIS_URL given; set it to use a real Redis)"
	}
	return url
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func logWhere(file string) string {
	if file == "" || file == "-" {
		return "standard error"
	}
	return file + "   (tail -f it to watch the services work)"
}
