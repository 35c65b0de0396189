package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/policytest"
	"github.com/agentic-iga/iga/services/policy/simulate"
)

// errTestsFailed makes `iga policy test` exit non-zero after printing its report.
var errTestsFailed = errors.New("policy tests failed")

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test and simulate access policies offline",
		Long: `Policies are YAML rules with CEL conditions (see deploy/demo/policy.yaml for the
language and how rules combine). 'iga policy test' runs policy unit tests written in YAML;
'iga policy simulate' replays past requests against a changed policy.`,
	}
	cmd.AddCommand(newPolicyShowCmd(g), newPolicyTestCmd(g), newPolicySimulateCmd(g))
	return cmd
}

func newPolicyShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the policy in force in the running stack, and the last refused change",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := g.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := callCtx()
			defer cancel()
			p, err := igav1.NewPolicyAdminServiceClient(conn).GetPolicy(ctx, &igav1.GetPolicyRequest{})
			if err != nil {
				return g.explain(err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), p)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "policy %s\nversion %s (loaded %s)\n%d rules, %d separation-of-duties constraints, break-glass %s\n",
				p.GetFile(), p.GetVersion(), when(p.GetLoadedAt()), p.GetRules(), p.GetSodConstraints(), map[bool]string{true: "on", false: "off"}[p.GetBreakGlass()])
			for _, warn := range p.GetWarnings() {
				fmt.Fprintf(w, "warning: %s\n", warn)
			}
			if p.GetRefusedError() != "" {
				fmt.Fprintf(w, "\nThe file was changed at %s but the change was refused; the version above stays in force:\n%s\n",
					when(p.GetRefusedAt()), p.GetRefusedError())
			}
			return nil
		},
	}
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var policyFile, dataDir string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test FILE",
		Short: "Run policy tests written in YAML; exits non-zero when one fails",
		Example: `  iga policy test deploy/demo/policy_test.yaml
  iga policy test deploy/demo/policy_test.yaml --policy new-policy.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := policytest.RunFile(args[0], policyFile, dataDir)
			if err != nil {
				return err
			}
			if g.json {
				if err := writeTestJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				rep.Write(cmd.OutOrStdout(), verbose)
			}
			if rep.Failed() > 0 {
				return fmt.Errorf("%w: %d of %d", errTestsFailed, rep.Failed(), len(rep.Results))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file to test (default: the test file's 'policy')")
	cmd.Flags().StringVar(&dataDir, "data", "", "folder with people.yaml and catalog.yaml (default: the test file's 'data', else its folder)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	return cmd
}

// writeTestJSON writes the report as one JSON document; decisions are protobuf JSON.
func writeTestJSON(w io.Writer, rep *policytest.Report) error {
	type result struct {
		Name     string          `json:"name"`
		Line     int             `json:"line"`
		Passed   bool            `json:"passed"`
		Failures []string        `json:"failures,omitempty"`
		Decision json.RawMessage `json:"decision,omitempty"`
	}
	out := struct {
		Tests         string   `json:"tests"`
		Policy        string   `json:"policy"`
		PolicyVersion string   `json:"policy_version"`
		Failed        int      `json:"failed"`
		Warnings      []string `json:"warnings,omitempty"`
		Results       []result `json:"results"`
	}{Tests: rep.Tests, Policy: rep.Policy, PolicyVersion: rep.PolicyVersion, Failed: rep.Failed(), Warnings: rep.Warnings}
	for _, r := range rep.Results {
		res := result{Name: r.Case.Name, Line: r.Case.Line, Passed: r.Passed, Failures: r.Failures}
		if r.Decision != nil {
			raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(r.Decision)
			if err != nil {
				return err
			}
			res.Decision = raw
		}
		out.Results = append(out.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func newPolicySimulateCmd(g *globals) *cobra.Command {
	var newFile, currentFile, dataDir string
	var all bool
	cmd := &cobra.Command{
		Use:   "simulate --policy NEW.yaml",
		Short: "Replay past requests against a changed policy and report which outcomes flip",
		Long: `Reads every RequestSubmitted event from the event history (stream IGA_EVENTS on
--nats-url), decides each request with the new policy at the time it was made, and compares
with the decision of record (or, for a request without one, the current policy's). Access
held is read from the grants ledger as it is now.`,
		Example: `  iga policy simulate --policy new-policy.yaml
  iga policy simulate --policy new-policy.yaml --nats-url nats://127.0.0.1:4333 --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newFile == "" {
				return errors.New("give the changed policy with --policy FILE")
			}
			after, err := engine.Load(newFile)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			rep, err := runSimulation(ctx, g.natsURL, after, currentFile, dataDir)
			if err != nil {
				return err
			}
			writeSimulation(cmd.OutOrStdout(), rep, after, all)
			return nil
		},
	}
	cmd.Flags().StringVar(&newFile, "policy", "", "the changed policy file")
	cmd.Flags().StringVar(&currentFile, "current", "deploy/demo/policy.yaml", "policy for requests without a recorded decision")
	cmd.Flags().StringVar(&dataDir, "data", "", "folder with people.yaml and catalog.yaml (default: the directory on the bus)")
	cmd.Flags().BoolVar(&all, "all", false, "also list requests whose approvals or limits change without flipping")
	return cmd
}

func runSimulation(ctx context.Context, natsURL string, after *engine.Policy, currentFile, dataDir string) (*simulate.Report, error) {
	b, err := bus.Connect(ctx, bus.Config{URL: natsURL, Name: "iga/cli", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = b.Close() }()
	var snap *directory.Snapshot
	if dataDir != "" {
		if snap, err = directory.LoadDir(dataDir); err != nil {
			return nil, err
		}
	} else {
		kv, err := b.KV(ctx, bus.BucketDirectory)
		if err != nil {
			return nil, err
		}
		dir, err := directory.Watch(ctx, kv, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, err
		}
		snap = dir.Snapshot()
	}
	reqs, err := simulate.ReadSubmitted(ctx, b.JetStream())
	if err != nil {
		return nil, err
	}
	held, err := simulate.Held(ctx, b)
	if err != nil {
		return nil, err
	}
	decisions, err := bus.OpenStore(ctx, b, bus.BucketDecisions, func() *igav1.PolicyDecision { return &igav1.PolicyDecision{} })
	if err != nil {
		return nil, err
	}
	var current *engine.Policy
	before := func(ar *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
		d, _, err := decisions.Get(ctx, ar.GetId())
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, bus.ErrNotFound) {
			return nil, err
		}
		if current == nil {
			if current, err = engine.Load(currentFile); err != nil {
				return nil, fmt.Errorf("no recorded decision, and the current policy does not load: %w", err)
			}
		}
		person := ar.GetBeneficiaryEmail()
		if person == "" {
			person = ar.GetRequesterEmail()
		}
		return policy.Decide(current, snap, ar, held(person), nil, ar.GetCreatedAt().AsTime())
	}
	return simulate.Replay(reqs, simulate.Inputs{Before: before, After: after, Snap: snap, Held: held}), nil
}

func writeSimulation(w io.Writer, rep *simulate.Report, after *engine.Policy, all bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tFOR\tENTITLEMENT\tCHANGE\tWHY (NEW POLICY)")
	shown := 0
	for _, c := range rep.Changes {
		if !c.Flipped && !all {
			continue
		}
		shown++
		who := c.Request.GetBeneficiaryEmail()
		if who == "" {
			who = c.Request.GetRequesterEmail()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Request.GetId(), who, c.Request.GetEntitlementId(), c.What, c.After.GetReason())
	}
	if shown > 0 {
		_ = tw.Flush()
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	fmt.Fprintf(w, "%d requests replayed against %s (%s): %d flip, %d other changes, %d skipped\n",
		rep.Requests, after.Name, after.Version, rep.Flips(), len(rep.Changes)-rep.Flips(), len(rep.Skipped))
}
