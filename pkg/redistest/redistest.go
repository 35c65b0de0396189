// Package redistest gives tests a real Redis: REDIS_URL when set, else a redis-server it
// starts when one is installed, else an embedded Redis-protocol server (and says so).
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

var dbCounter atomic.Int64

// Client returns a client on a Redis for the test. Each call gets a key prefix of its own
// (returned) so tests sharing one Redis never see each other's keys.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	prefix := fmt.Sprintf("igatest:%d:%d:", os.Getpid(), dbCounter.Add(1))
	url := os.Getenv("REDIS_URL")
	var opts *redis.Options
	switch {
	case url != "":
		o, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("REDIS_URL %q: %v", url, err)
		}
		opts = o
	default:
		if path, err := exec.LookPath("redis-server"); err == nil {
			opts = startRedisServer(t, path)
		} else {
			m := miniredis.RunT(t)
			t.Logf("REDIS_URL unset and no redis-server installed: using the embedded Redis-protocol server (miniredis)")
			opts = &redis.Options{Addr: m.Addr()}
		}
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", opts.Addr, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

func startRedisServer(t testing.TB, path string) *redis.Options {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir := t.TempDir()
	cmd := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return &redis.Options{Addr: addr}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("redis-server on %s did not start", addr)
	return nil
}
