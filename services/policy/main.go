// Command policy runs the policy service: it decides access requests with a YAML/CEL
// policy file and records each request's decision once.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/agentic-iga/iga/pkg/svc"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/workbench"
)

func main() {
	fs := flag.NewFlagSet("policy", flag.ExitOnError)
	var base svc.Base
	base.Flags(fs, 7003, 8083)
	var cfg policy.Config
	cfg.Flags(fs)
	if err := svc.Parse(fs, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "policy:", err)
		os.Exit(2)
	}
	err := svc.Run("policy", base, func(_ context.Context, env svc.Env) (svc.Component, error) {
		return workbench.NewPolicyService(env, cfg)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "policy:", err)
		os.Exit(1)
	}
}
