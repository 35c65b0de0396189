// Command provisioner runs iga's provisioner service: grant and revoke commands executed
// through connectors after re-checking the records, the grants ledger, reconciliation,
// and EntitlementsService.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/provisioner/provisioner"
)

func main() {
	fs := flag.NewFlagSet("provisioner", flag.ExitOnError)
	var base svc.Base
	base.Flags(fs, 7005, 8085)
	var cfg provisioner.Config
	cfg.Flags(fs)
	if err := svc.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "provisioner:", err)
		os.Exit(2)
	}
	err := svc.Run("provisioner", base, func(_ context.Context, env svc.Env) (svc.Component, error) {
		return provisioner.New(env, cfg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "provisioner:", err)
		os.Exit(1)
	}
}
