package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
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
