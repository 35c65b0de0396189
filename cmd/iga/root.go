package main

import (
	"os"

	"github.com/spf13/cobra"
)

// globals are the flags every verb shares.
type globals struct {
	addr string
	json bool
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "iga",
		Short: "iga — agentic access provisioning: ask for access in chat, get exactly what you need, for as long as you need it",
		Long: `iga resolves access requests in conversation, decides them by policy, gets the
approvals policy demands, provisions through connectors and revokes on time.

Start everything on this machine with 'iga dev' (or 'make run'), then talk to it:
  iga chat --as dana.reyes@acme.example "I need to look at the payments dashboards"`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.addr, "addr", envOr("IGA_ADDR", "127.0.0.1:7000"), "gRPC address of the iga services (env IGA_ADDR)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.AddCommand(
		newChatCmd(g),
		newRequestsCmd(g),
		newApprovalsCmd(g),
		newDecideCmd(g, true),
		newDecideCmd(g, false),
		newWithdrawCmd(g),
		newGrantsCmd(g),
		newEventsCmd(g),
		newPolicyCmd(g),
		newEvalCmd(g),
		newDevCmd(g),
		newBenchCmd(g),
	)
	return root
}
