package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/policytest"
	"github.com/agentic-iga/iga/services/policy/workbench"
)

// errTestsFailed makes `iga policy test` exit non-zero after printing its report.
var errTestsFailed = errors.New("policy tests failed")

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show, explain, test and simulate access policies",
		Long: `Policies are YAML rules with CEL conditions (see deploy/demo/policy.yaml for the
language and how rules combine). 'iga policy test' runs policy unit tests written in YAML
(offline, or on the server with --remote); 'iga policy simulate' has the server replay
past requests against a changed policy.`,
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

// writeExplanation prints a decision for a person: the verdict and why, the approvals
// (with their quorum), the matched rules in aligned columns, and what would change it.
func writeExplanation(w io.Writer, d *igav1.PolicyDecision) {
	effect := func(e igav1.Effect) string { return strings.ToLower(strings.TrimPrefix(e.String(), "EFFECT_")) }
	fmt.Fprintf(w, "%s — %s\n", effect(d.GetEffect()), d.GetReason())
	if steps := policytest.Steps(d); len(steps) > 0 {
		fmt.Fprintf(w, "approvals: %s\n", strings.Join(steps, ", "))
	}
	if len(d.GetReviewSteps()) > 0 {
		var review []string
		for _, s := range d.GetReviewSteps() {
			review = append(review, policytest.Step(s))
		}
		fmt.Fprintf(w, "reviewed after the fact by: %s\n", strings.Join(review, ", "))
	}
	if d.GetGrantedDuration() != nil {
		fmt.Fprintf(w, "granted for %s (max %s)\n", directory.FormatDuration(d.GetGrantedDuration().AsDuration()),
			directory.FormatDuration(d.GetMaxDuration().AsDuration()))
	}
	if len(d.GetMatchedRules()) > 0 {
		fmt.Fprintln(w, "matched:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, m := range d.GetMatchedRules() {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.GetSource(), m.GetRuleId(), effect(m.GetEffect()), m.GetReason())
		}
		_ = tw.Flush()
	}
	if len(d.GetRemediation()) > 0 {
		if d.GetEffect() == igav1.Effect_EFFECT_DENY {
			fmt.Fprintln(w, "what would change it:")
		} else {
			fmt.Fprintln(w, "notes:")
		}
		for _, r := range d.GetRemediation() {
			fmt.Fprintf(w, "  → %s\n", r)
		}
	}
	fmt.Fprintf(w, "policy %s\n", d.GetPolicyVersion())
}

func newPolicyTestCmd(g *globals) *cobra.Command {
	var policyFile, dataDir string
	var verbose, remote bool
	cmd := &cobra.Command{
		Use:   "test FILE",
		Short: "Run policy tests written in YAML; exits non-zero when one fails",
		Long: `Runs the test cases in FILE and exits non-zero when one fails: CI for policy admins.
By default it runs offline, against the policy and directory data the file names (or
--policy and --data); nothing needs to be running. With --remote the server (--addr) runs
them, with its own directory, against the policy in force, or against --policy: a
candidate sent along.`,
		Example: `  iga policy test deploy/demo/policy_test.yaml
  iga policy test deploy/demo/policy_test.yaml --policy new-policy.yaml
  iga policy test deploy/demo/policy_test.yaml --remote
  iga policy test deploy/demo/policy_test.yaml --remote --policy new-policy.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rep *policytest.Report
			var err error
			if remote {
				if dataDir != "" {
					return errors.New("--data is for offline tests; with --remote the server tests against its own directory")
				}
				rep, err = runRemoteTests(g, args[0], policyFile)
			} else {
				rep, err = policytest.RunFile(args[0], policyFile, dataDir)
			}
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
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file to test (default: the test file's 'policy'; with --remote, the policy in force)")
	cmd.Flags().StringVar(&dataDir, "data", "", "folder with people.yaml and catalog.yaml (default: the test file's 'data', else its folder)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	cmd.Flags().BoolVar(&remote, "remote", false, "run the tests on the server (--addr), with its directory")
	return cmd
}

// runRemoteTests has the policy server run the tests in testsFile, against policyFile or
// the policy in force, and reads the answer as the report an offline run gives.
func runRemoteTests(g *globals, testsFile, policyFile string) (*policytest.Report, error) {
	tests, err := readInput(testsFile)
	if err != nil {
		return nil, err
	}
	req := &igav1.TestPolicyRequest{TestsYaml: tests, TestsName: testsFile}
	if policyFile != "" {
		if req.PolicyYaml, err = readInput(policyFile); err != nil {
			return nil, err
		}
		req.PolicyName = policyFile
	}
	resp, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.TestPolicyResponse, error) {
		return igav1.NewPolicyAdminServiceClient(conn).TestPolicy(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	rep := &policytest.Report{Tests: resp.GetTests(), Policy: resp.GetPolicy(), PolicyVersion: resp.GetPolicyVersion(), Warnings: resp.GetWarnings()}
	for _, r := range resp.GetResults() {
		rep.Results = append(rep.Results, policytest.Result{Case: policytest.Case{Name: r.GetName(), Line: int(r.GetLine())},
			Passed: r.GetPassed(), Failures: r.GetFailures(), Decision: r.GetDecision()})
	}
	return rep, nil
}

// readInput reads a file to send to the server, refusing one the server would refuse.
func readInput(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.Size() > workbench.MaxInput {
		return "", fmt.Errorf("%s is %d bytes; the server accepts at most %d (1 MiB)", path, info.Size(), workbench.MaxInput)
	}
	data, err := os.ReadFile(path)
	return string(data), err
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
	var newFile, since string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "simulate --policy NEW.yaml",
		Short: "Replay past requests against a changed policy and report which outcomes flip",
		Long: `Sends the changed policy to the policy server (--addr), which replays the requests of
its event history against it: each is decided with the new policy as of when it was made
and compared with its decision of record (or, for a request without one, the policy in
force's). Access held is read from the grants ledger as it is now. The newest --limit
requests (1000 by default, at most 10000) are replayed, from --since on. --json prints the
server's whole answer, other changes included.`,
		Example: `  iga policy simulate --policy new-policy.yaml
  iga policy simulate --policy new-policy.yaml --since 7d --all
  iga policy simulate --policy new-policy.yaml --addr iga.example.com:7000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if newFile == "" {
				return errors.New("give the changed policy with --policy FILE")
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: give how many of the newest requests to replay", limit)
			}
			req := &igav1.SimulatePolicyRequest{PolicyName: newFile, Limit: int32(min(limit, math.MaxInt32))}
			var err error
			if req.PolicyYaml, err = readInput(newFile); err != nil {
				return err
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				req.Since = timestamppb.New(t)
			}
			// A replay reads the whole window of history: give it longer than other calls,
			// and room for a long answer.
			resp, err := unaryWithin(g, 2*time.Minute, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.SimulatePolicyResponse, error) {
				return igav1.NewPolicyAdminServiceClient(conn).SimulatePolicy(ctx, req, grpc.MaxCallRecvMsgSize(64<<20))
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			writeSimulation(cmd.OutOrStdout(), resp, all)
			return nil
		},
	}
	cmd.Flags().StringVar(&newFile, "policy", "", "the changed policy file")
	cmd.Flags().IntVar(&limit, "limit", 0, "replay at most the newest N requests (0: the server's default, 1000)")
	cmd.Flags().StringVar(&since, "since", "", "only requests made since then: a date (2026-11-01), a time (RFC 3339) or a span back (7d, 12h)")
	cmd.Flags().BoolVar(&all, "all", false, "also list requests whose approvals or limits change without flipping")
	return cmd
}

// parseSince reads --since: a span back from now ("7d"), a date or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	if d, err := directory.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: write a span back (7d, 12h), a date (2026-11-01) or a time (2026-11-01T09:00:00Z)", s)
}

func writeSimulation(w io.Writer, rep *igav1.SimulatePolicyResponse, all bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tFOR\tENTITLEMENT\tCHANGE\tWHY (NEW POLICY)")
	shown := 0
	for _, c := range rep.GetChanges() {
		if !c.GetFlipped() && !all {
			continue
		}
		shown++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.GetRequestId(), c.GetBeneficiaryEmail(), c.GetEntitlementId(), c.GetChange(), c.GetAfter().GetReason())
	}
	if shown > 0 {
		_ = tw.Flush()
	}
	for _, s := range rep.GetSkipped() {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	other := len(rep.GetChanges()) - int(rep.GetFlips())
	fmt.Fprintf(w, "%d requests replayed against %s (%s): %d flip, %d other changes, %d skipped\n",
		rep.GetRequests(), rep.GetPolicy(), rep.GetPolicyVersion(), rep.GetFlips(), other, len(rep.GetSkipped()))
	if other > 0 && !all {
		fmt.Fprintln(w, "(--all lists the other changes too)")
	}
	if rep.GetTruncated() {
		fmt.Fprintf(w, "Only the newest %d requests were replayed; older ones exist (raise --limit or narrow with --since).\n", rep.GetRequests())
	}
}
