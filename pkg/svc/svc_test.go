package svc_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/agentic-iga/iga/pkg/bus/bustest"
	"github.com/agentic-iga/iga/pkg/svc"
)

func TestFlagsFallBackToIGAEnvironment(t *testing.T) {
	t.Setenv("IGA_NATS_URL", "nats://from-env:4222")
	t.Setenv("IGA_REPLICAS", "3")
	t.Setenv("IGA_GRPC_ADDR", ":9999")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var b svc.Base
	b.Flags(fs, 7001, 8081)
	if err := svc.Parse(fs, []string{"--grpc-addr", ":7100"}); err != nil {
		t.Fatal(err)
	}
	if b.NATSURL != "nats://from-env:4222" || b.Replicas != 3 {
		t.Errorf("env not read: %+v", b)
	}
	if b.GRPCAddr != ":7100" {
		t.Errorf("the command line must win over the environment: %q", b.GRPCAddr)
	}
	if b.HTTPAddr != ":8081" {
		t.Errorf("default lost: %q", b.HTTPAddr)
	}

	t.Setenv("IGA_REPLICAS", "three")
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	b.Flags(fs, 1, 2)
	if err := svc.Parse(fs, nil); err == nil || !strings.Contains(err.Error(), "IGA_REPLICAS") {
		t.Fatalf("a bad environment value must name the variable: %v", err)
	}
	if svc.EnvName("webhook-secret") != "IGA_WEBHOOK_SECRET" {
		t.Error(svc.EnvName("webhook-secret"))
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServersAnswerHealthAndShutDown(t *testing.T) {
	b := bustest.New(t)
	srv := svc.NewServers(slog.New(slog.NewTextHandler(io.Discard, nil)), b)
	grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, grpcAddr, httpAddr) }()

	var resp *http.Response
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = http.Get("http://" + httpAddr + "/readyz")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err = http.Get("http://" + httpAddr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health: %v %v", hc, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("servers did not shut down")
	}
	if _, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		t.Error("HTTP still serving after shutdown")
	}
}

func TestTakenAddressSaysWhichFlag(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := svc.NewServers(slog.New(slog.NewTextHandler(io.Discard, nil)), bustest.New(t))
	err = srv.Serve(context.Background(), l.Addr().String(), "")
	if err == nil || !strings.Contains(err.Error(), "--grpc-addr") {
		t.Fatalf("error %v does not name --grpc-addr", err)
	}
}
