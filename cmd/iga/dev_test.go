package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/redistest"
)

func TestDevSaysWhichFlagMovesATakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	for _, c := range []struct {
		flag string
		set  func(*devConfig)
	}{
		{"--grpc-port", func(c *devConfig) { c.GRPCPort = port }},
		{"--http-port", func(c *devConfig) { c.HTTPPort = port }},
		{"--scim-port", func(c *devConfig) { c.SCIMPort = port }},
		{"--nats-port", func(c *devConfig) { c.NATSPort = port }},
	} {
		cfg := devConfig{Host: "127.0.0.1", DataDir: t.TempDir(), DemoDir: filepath.Join(repoDir(t), "deploy", "demo"), LogLevel: "error"}
		c.set(&cfg)
		st, err := startDev(context.Background(), cfg, io.Discard)
		if err == nil {
			st.Close()
			t.Fatalf("%s: started on a taken port", c.flag)
		}
		if !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s: error %q does not say which flag picks another port", c.flag, err)
		}
	}
}

func TestDevRefusesABrokenDemoFolder(t *testing.T) {
	_, err := startDev(context.Background(), devConfig{Host: "127.0.0.1", DataDir: t.TempDir(), DemoDir: t.TempDir(), LogLevel: "error"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--demo") {
		t.Fatalf("error %v does not point at --demo", err)
	}
}

// startDevIn runs `iga dev` on free ports with the demo folder and data folder given.
func startDevIn(t *testing.T, demoDir, dataDir string, out io.Writer) (*devStack, error) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return startDev(context.Background(), devConfig{Host: "127.0.0.1", DataDir: dataDir, SCIMToken: "test-token",
		DemoDir: demoDir, LogLevel: "error", Redis: rdb, RedisPrefix: prefix}, out)
}

// activeGrants lists a person's active grants, by entitlement.
func activeGrants(t *testing.T, st *devStack, email string) []string {
	t.Helper()
	conn, err := (&globals{addr: st.GRPCAddr}).dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := igav1.NewEntitlementsServiceClient(conn).ListGrants(ctx, &igav1.ListGrantsRequest{PersonEmail: email})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range resp.GetGrants() {
		out = append(out, g.GetEntitlementId())
	}
	slices.Sort(out)
	return out
}

func TestDevImportsExistingAccessOnce(t *testing.T) {
	demo := filepath.Join(repoDir(t), "deploy", "demo")
	want, err := directory.LoadAccess(filepath.Join(demo, "access.yaml"), mustLoadDir(t, demo))
	if err != nil || len(want) == 0 {
		t.Fatalf("demo access.yaml: %d entries, %v", len(want), err)
	}
	data := t.TempDir()
	var banner strings.Builder
	st, err := startDevIn(t, demo, data, &banner)
	if err != nil {
		t.Fatal(err)
	}
	if line := fmt.Sprintf("existing access  %d grants imported from %s", len(want), filepath.Join(demo, "access.yaml")); !strings.Contains(banner.String(), line) {
		t.Fatalf("banner lacks %q:\n%s", line, banner.String())
	}
	// The Data Engineers hold their team's access, in the ledger and at the SCIM target.
	const theo = "theo.vogel@acme.example"
	deadline := time.Now().Add(60 * time.Second)
	for !slices.Contains(activeGrants(t, st, theo), "snowflake:engineer") {
		if time.Now().After(deadline) {
			t.Fatalf("theo's imported grants never became active: %v", activeGrants(t, st, theo))
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitMembership(t, st, "snowflake-engineer", theo, true, 30*time.Second)
	if got := activeGrants(t, st, "dana.reyes@acme.example"); len(got) != 0 {
		t.Fatalf("dana holds %v; the walkthrough starts her with nothing", got)
	}
	st.Close()

	// Restarted on the same data, nothing is imported again.
	banner.Reset()
	st, err = startDevIn(t, demo, data, &banner)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !strings.Contains(banner.String(), "existing access  0 grants imported") {
		t.Fatalf("restart imported again:\n%s", banner.String())
	}
}

func TestDevWithoutOrWithBrokenAccessFile(t *testing.T) {
	demo := filepath.Join(repoDir(t), "deploy", "demo")
	dir := t.TempDir()
	for _, name := range []string{"people.yaml", "catalog.yaml", "policy.yaml"} {
		b, err := os.ReadFile(filepath.Join(demo, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var banner strings.Builder
	st, err := startDevIn(t, dir, t.TempDir(), &banner)
	if err != nil {
		t.Fatalf("a demo folder without access.yaml: %v", err)
	}
	st.Close()
	if strings.Contains(banner.String(), "existing access") {
		t.Fatalf("banner mentions existing access without access.yaml:\n%s", banner.String())
	}

	bad := "access:\n  - person: nobody@acme.example\n    entitlements: [github:read]\n"
	if err := os.WriteFile(filepath.Join(dir, "access.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := startDevIn(t, dir, t.TempDir(), io.Discard); err == nil {
		st.Close()
		t.Fatal("started with a broken access.yaml")
	} else if !strings.Contains(err.Error(), "nobody@acme.example is not in the directory") {
		t.Fatalf("error %q does not say what is wrong in access.yaml", err)
	}
}

func mustLoadDir(t *testing.T, dir string) *directory.Snapshot {
	t.Helper()
	s, err := directory.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
