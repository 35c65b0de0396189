package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

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
	cmd.AddCommand(newPolicyShowCmd(g), newPolicyExplainCmd(g), newPolicyTestCmd(g), newPolicySimulateCmd(g))
	return cmd
}

func newPolicyShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the policy in force in the running stack, and the last refused change",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.GetPolicyResponse, error) {
				return igav1.NewPolicyAdminServiceClient(conn).GetPolicy(ctx, &igav1.GetPolicyRequest{})
			})
			if err != nil {
				return err
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

func newPolicyExplainCmd(g *globals) *cobra.Command {
	var policyFile, dataDir, person, requester, duration, justification, ticket, at string
	var emergency bool
	var held, pending []string
	cmd := &cobra.Command{
		Use:   "explain ENTITLEMENT --person EMAIL",
		Short: "Decide one request offline and explain it: matched rules, reasons, what would change it",
		Example: `  iga policy explain snowflake:analyst --person sam.patel@acme.example
  iga policy explain aws-prod:admin --person sam.patel@acme.example --duration 24h --justification "rotate keys for INC-2077"
  iga policy explain netsuite:ap-approver --person dana.reyes@acme.example --held netsuite:ap-clerk`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if person == "" {
				return errors.New("say whose access it is with --person EMAIL")
			}
			pol, err := engine.Load(policyFile)
			if err != nil {
				return err
			}
			snap, err := directory.LoadDir(dataDir)
			if err != nil {
				return fmt.Errorf("load directory data: %w", err)
			}
			d, err := directory.ParseDuration(duration)
			if err != nil {
				return fmt.Errorf("--duration: %w", err)
			}
			now := time.Now().UTC()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at %q: write it like 2026-12-07T10:00:00Z", at)
				}
			}
			ar := &igav1.AccessRequest{Id: "explain", RequesterEmail: requester, BeneficiaryEmail: person,
				EntitlementId: args[0], Justification: justification, TicketRef: ticket, Emergency: emergency}
			if d > 0 {
				ar.Duration = durationpb.New(d)
			}
			dec, err := policy.Decide(pol, snap, ar, held, pending, now)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), dec)
			}
			writeExplanation(cmd.OutOrStdout(), dec)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyFile, "policy", "deploy/demo/policy.yaml", "policy file")
	f.StringVar(&dataDir, "data", "deploy/demo", "folder with people.yaml and catalog.yaml")
	f.StringVar(&person, "person", "", "who gets the access")
	f.StringVar(&requester, "requester", "", "who asks, when on someone's behalf")
	f.StringVar(&duration, "duration", "", "how long, e.g. 8h, 7d, 2w (default: policy's default)")
	f.StringVar(&justification, "justification", "", "why the access is needed")
	f.StringVar(&ticket, "ticket", "", "ticket reference, e.g. INC-1234")
	f.BoolVar(&emergency, "emergency", false, "ask through the emergency (break-glass) path")
	f.StringSliceVar(&held, "held", nil, "entitlements the person holds (for separation of duties)")
	f.StringSliceVar(&pending, "pending", nil, "entitlements the person is waiting for")
	f.StringVar(&at, "at", "", "decide as of this time (RFC 3339; default now)")
	return cmd
}

func writeExplanation(w io.Writer, d *igav1.PolicyDecision) {
	fmt.Fprintf(w, "%s — %s\n", strings.ToLower(strings.TrimPrefix(d.GetEffect().String(), "EFFECT_")), d.GetReason())
	if steps := policytest.Steps(d); len(steps) > 0 {
		fmt.Fprintf(w, "approvals: %s\n", strings.Join(steps, ", "))
	}
	if d.GetGrantedDuration() != nil {
		fmt.Fprintf(w, "granted for %s (max %s)\n", directory.FormatDuration(d.GetGrantedDuration().AsDuration()),
			directory.FormatDuration(d.GetMaxDuration().AsDuration()))
	}
	for _, m := range d.GetMatchedRules() {
		fmt.Fprintf(w, "  %-18s %-30s %s\n", m.GetSource(), m.GetRuleId()+" ("+strings.ToLower(strings.TrimPrefix(m.GetEffect().String(), "EFFECT_"))+")", m.GetReason())
	}
	for _, r := range d.GetRemediation() {
		fmt.Fprintf(w, "  → %s\n", r)
	}
	fmt.Fprintf(w, "policy %s\n", d.GetPolicyVersion())
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
