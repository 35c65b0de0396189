// Command intake runs iga's intake service: chat messages from channels in, turns for
// the agent out, plus the events and directory read APIs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/intake/intake"
)

func main() {
	fs := flag.NewFlagSet("intake", flag.ExitOnError)
	var base svc.Base
	base.Flags(fs, 7001, 8081)
	var cfg intake.Config
	cfg.Flags(fs)
	if err := svc.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		os.Exit(2)
	}
	err := svc.Run("intake", base, func(_ context.Context, env svc.Env) (svc.Component, error) {
		return intake.New(env, cfg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		os.Exit(1)
	}
}
