// Command expiry runs iga's expiry service: scheduled revocation of every grant when it
// expires, and a sweep that catches anything overdue.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/expiry/expiry"
)

func main() {
	fs := flag.NewFlagSet("expiry", flag.ExitOnError)
	var base svc.Base
	base.Flags(fs, 7006, 8086)
	var cfg expiry.Config
	cfg.Flags(fs)
	if err := svc.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "expiry:", err)
		os.Exit(2)
	}
	err := svc.Run("expiry", base, func(_ context.Context, env svc.Env) (svc.Component, error) {
		return expiry.New(env, cfg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "expiry:", err)
		os.Exit(1)
	}
}
