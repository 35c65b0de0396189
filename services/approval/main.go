// Command approval runs iga's approval service: routing of the approvals policy demands,
// approvers' decisions over gRPC, the grant command once approved, and the requests view.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/approval/approval"
)

func main() {
	fs := flag.NewFlagSet("approval", flag.ExitOnError)
	var base svc.Base
	base.Flags(fs, 7004, 8084)
	var cfg approval.Config
	cfg.Flags(fs)
	if err := svc.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "approval:", err)
		os.Exit(2)
	}
	err := svc.Run("approval", base, func(_ context.Context, env svc.Env) (svc.Component, error) {
		return approval.New(env, cfg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "approval:", err)
		os.Exit(1)
	}
}
