// Command agent runs the IG agent: it consumes chat turns, reasons with its tools and
// submits access requests.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/agent/agent"
)

func main() {
	fs := flag.NewFlagSet("agent", flag.ExitOnError)
	var base svc.Base
	base.Flags(fs, 7002, 8082)
	var cfg agent.Config
	cfg.Flags(fs)
	if err := svc.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(2)
	}
	err := svc.Run("agent", base, func(_ context.Context, env svc.Env) (svc.Component, error) {
		return agent.New(env, cfg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}
