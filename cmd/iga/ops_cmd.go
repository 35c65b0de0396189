package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func newRequestsCmd(g *globals) *cobra.Command {
	var person string
	cmd := &cobra.Command{
		Use:     "requests [--user EMAIL]",
		Short:   "List access requests with their decision, approval and grant",
		Example: "  iga requests\n  iga requests --user dana.reyes@acme.example --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.ListRequestsResponse, error) {
				return igav1.NewRequestsServiceClient(conn).ListRequests(ctx, &igav1.ListRequestsRequest{PersonEmail: person})
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), listOf(resp.GetRequests())...)
			}
			var rows [][]string
			for _, v := range resp.GetRequests() {
				r := v.GetRequest()
				who := r.GetBeneficiaryEmail()
				if r.GetRequesterEmail() != who {
					who += " (by " + r.GetRequesterEmail() + ")"
				}
				rows = append(rows, []string{r.GetId(), who, r.GetEntitlementId(),
					directory.FormatDuration(r.GetDuration().AsDuration()), requestStatus(v.GetStatus()),
					when(r.GetCreatedAt()), v.GetDecision().GetReason()})
			}
			return tableOrEmpty(cmd.OutOrStdout(), "ID\tFOR\tENTITLEMENT\tDURATION\tSTATUS\tCREATED\tPOLICY", rows, "No requests yet. Ask for access with: iga chat --as EMAIL \"...\"")
		},
	}
	cmd.Flags().StringVar(&person, "user", "", "only requests this person made or benefits from")
	return cmd
}

func newApprovalsCmd(g *globals) *cobra.Command {
	var as string
	var all bool
	cmd := &cobra.Command{
		Use:   "approvals --as EMAIL",
		Short: "List the approvals and break-glass reviews waiting for you (or all with --all)",
		Long: `Lists what you may decide now: approvals that gate a grant, and reviews of emergency
(break-glass) access already granted, whose status reads "review pending". Approve or deny
an approval with 'iga approve' / 'iga deny'; for a review, 'iga approve' confirms the
emergency access and 'iga deny --reason' rejects it, which revokes it at once.`,
		Example: "  iga approvals --as marco.bianchi@acme.example",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if as == "" && !all {
				return errors.New("say whose approvals to list with --as EMAIL, or --all")
			}
			req := &igav1.ListApprovalsRequest{ApproverEmail: as}
			if !all {
				req.Statuses = []igav1.ApprovalStatus{igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}
			}
			resp, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.ListApprovalsResponse, error) {
				return igav1.NewApprovalServiceClient(conn).ListApprovals(ctx, req)
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), listOf(resp.GetApprovals())...)
			}
			var rows [][]string
			for _, a := range resp.GetApprovals() {
				rows = append(rows, []string{a.GetId(), a.GetBeneficiaryEmail(), a.GetEntitlementId(),
					directory.FormatDuration(a.GetDuration().AsDuration()), approvalState(a),
					fmt.Sprintf("%d", a.GetCurrentStage()), strings.Join(a.GetApprovers(), ", ")})
			}
			return tableOrEmpty(cmd.OutOrStdout(), "ID\tFOR\tENTITLEMENT\tDURATION\tSTATUS\tSTAGE\tAPPROVERS", rows, "Nothing waiting for your approval.")
		},
	}
	cmd.Flags().StringVar(&as, "as", os.Getenv("IGA_AS"), "the approver (dev-mode identity; env IGA_AS)")
	cmd.Flags().BoolVar(&all, "all", false, "every approval, whoever may decide it, in every status")
	return cmd
}

func newDecideCmd(g *globals, approve bool) *cobra.Command {
	var as, reason string
	verb := map[bool]string{true: "approve", false: "deny"}[approve]
	cmd := &cobra.Command{
		Use:     verb + " ID --as EMAIL",
		Short:   map[bool]string{true: "Approve an access request waiting for you", false: "Deny an access request waiting for you, with a reason"}[approve],
		Example: fmt.Sprintf("  iga %s 0193f1d2-... --as marco.bianchi@acme.example", verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return fmt.Errorf("say who you are with --as EMAIL")
			}
			if !approve && strings.TrimSpace(reason) == "" {
				return errors.New("a denial needs a reason the requester will read: --reason \"...\"")
			}
			resp, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.DecideResponse, error) {
				return igav1.NewApprovalServiceClient(conn).Decide(ctx, &igav1.DecideRequest{
					ApprovalId: args[0], ApproverEmail: as, Approve: approve, Reason: reason})
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), resp.GetApproval())
			}
			a := resp.GetApproval()
			if a.GetKind() == igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: the emergency access to %s for %s is now %s\n", a.GetId(), a.GetEntitlementId(), a.GetBeneficiaryEmail(), approvalState(a))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s for %s is now %s\n", a.GetId(), a.GetEntitlementId(), a.GetBeneficiaryEmail(), approvalStatus(a.GetStatus()))
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", os.Getenv("IGA_AS"), "the approver (dev-mode identity; env IGA_AS)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required to deny)")
	return cmd
}

func newWithdrawCmd(g *globals) *cobra.Command {
	var as, reason string
	cmd := &cobra.Command{
		Use:   "withdraw ID --as EMAIL",
		Short: "Withdraw your own access request while it waits for approval",
		Long: `Takes back a request you made that is still waiting for approval: its approvers are no
longer asked and nothing is granted. A request already approved, allowed without approval
or granted cannot be withdrawn; give the access up instead (in chat: "I'm done with …").`,
		Example: "  iga withdraw r-23ded4ca0f48f14f --as sam.patel@acme.example --reason \"not needed after all\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return fmt.Errorf("say who you are with --as EMAIL")
			}
			resp, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.WithdrawRequestResponse, error) {
				return igav1.NewRequestsServiceClient(conn).WithdrawRequest(ctx, &igav1.WithdrawRequestRequest{
					RequestId: args[0], RequesterEmail: as, Reason: reason})
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), resp.GetRequest())
			}
			v := resp.GetRequest()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s for %s is now %s; nothing was granted\n", v.GetRequest().GetId(),
				v.GetRequest().GetEntitlementId(), v.GetRequest().GetBeneficiaryEmail(), requestStatus(v.GetStatus()))
			return nil
		},
	}
	cmd.Flags().StringVar(&as, "as", os.Getenv("IGA_AS"), "the requester (dev-mode identity; env IGA_AS)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

func newGrantsCmd(g *globals) *cobra.Command {
	var person string
	var all bool
	cmd := &cobra.Command{
		Use:     "grants [--user EMAIL]",
		Short:   "List access held now (the grants ledger), with expiry",
		Example: "  iga grants\n  iga grants --user dana.reyes@acme.example --all",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := unary(g, func(ctx context.Context, conn *grpc.ClientConn) (*igav1.ListGrantsResponse, error) {
				return igav1.NewEntitlementsServiceClient(conn).ListGrants(ctx, &igav1.ListGrantsRequest{PersonEmail: person, IncludeInactive: all})
			})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), listOf(resp.GetGrants())...)
			}
			var rows [][]string
			for _, gr := range resp.GetGrants() {
				end := when(gr.GetExpiresAt())
				if gr.GetStatus() == igav1.GrantStatus_GRANT_STATUS_REVOKED {
					end = when(gr.GetRevokedAt()) + " (" + gr.GetRevokeReason() + ")"
				}
				rows = append(rows, []string{gr.GetId(), gr.GetPersonEmail(), gr.GetEntitlementId(), grantStatus(gr.GetStatus()), when(gr.GetGrantedAt()), end})
			}
			return tableOrEmpty(cmd.OutOrStdout(), "GRANT\tPERSON\tENTITLEMENT\tSTATUS\tGRANTED\tUNTIL", rows, "No grants.")
		},
	}
	cmd.Flags().StringVar(&person, "user", "", "only this person's grants")
	cmd.Flags().BoolVar(&all, "all", false, "include revoked and failed grants")
	return cmd
}

// eventSubjectWidth fits the longest subject iga publishes (iga.evt.approval.review.requested),
// so a followed stream's columns stay aligned without knowing what comes next.
const eventSubjectWidth = len("iga.evt.approval.review.requested")

func newEventsCmd(g *globals) *cobra.Command {
	var follow bool
	var last uint64
	var filter string
	cmd := &cobra.Command{
		Use:     "events [--follow]",
		Short:   "Show the event history (iga.evt.>): requests, decisions, approvals, grants",
		Example: "  iga events --last 20\n  iga events --follow --filter 'iga.evt.grant.>'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := g.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx := cmd.Context()
			stream, err := igav1.NewEventsServiceClient(conn).Watch(ctx, &igav1.WatchRequest{Last: last, Follow: follow, SubjectFilter: filter})
			if err != nil {
				return g.explain(err)
			}
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return g.explain(err)
				}
				e := resp.GetEvent()
				if g.json {
					if err := printJSON(cmd.OutOrStdout(), e); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %-*s %-16s %s\n", when(e.GetTime()), eventSubjectWidth, e.GetSubject(), strings.TrimPrefix(e.GetSource(), "iga/"), summary(e))
			}
		},
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new events")
	cmd.Flags().Uint64Var(&last, "last", 50, "start this many events back")
	cmd.Flags().StringVar(&filter, "filter", "", "only subjects matching this NATS filter, e.g. 'iga.evt.grant.>'")
	return cmd
}

// summary is a one-line reading of an event's body.
func summary(e *igav1.Envelope) string {
	msg, err := e.GetData().UnmarshalNew()
	if err != nil {
		return "request " + e.GetRequestId()
	}
	switch m := msg.(type) {
	case *igav1.RequestSubmitted:
		r := m.GetRequest()
		return fmt.Sprintf("%s asks %s for %s (%s)", r.GetRequesterEmail(), r.GetEntitlementId(), r.GetBeneficiaryEmail(), directory.FormatDuration(r.GetDuration().AsDuration()))
	case *igav1.PolicyDecided:
		d := m.GetDecision()
		return fmt.Sprintf("%s: %s", trimEnum(d.GetEffect().String(), "EFFECT_"), d.GetReason())
	case *igav1.ApprovalRequested:
		return fmt.Sprintf("approval of %s for %s asked of %s", m.GetApproval().GetEntitlementId(), m.GetApproval().GetBeneficiaryEmail(), strings.Join(m.GetApproval().GetApprovers(), ", "))
	case *igav1.ApprovalDecided:
		return fmt.Sprintf("%s for %s %s", m.GetApproval().GetEntitlementId(), m.GetApproval().GetBeneficiaryEmail(), approvalStatus(m.GetApproval().GetStatus()))
	case *igav1.BreakGlassReviewRequested:
		r := m.GetReview()
		return fmt.Sprintf("review of emergency %s for %s asked of %s", r.GetEntitlementId(), r.GetBeneficiaryEmail(), strings.Join(r.GetApprovers(), ", "))
	case *igav1.BreakGlassReviewDecided:
		r := m.GetReview()
		s := fmt.Sprintf("emergency %s for %s %s: %s", r.GetEntitlementId(), r.GetBeneficiaryEmail(), approvalState(r), r.GetReason())
		if m.GetRevokeCommanded() {
			s += " (revoking " + m.GetGrantId() + ")"
		}
		return s
	case *igav1.PolicyBreakGlass:
		r := m.GetRequest()
		return fmt.Sprintf("BREAK-GLASS %s for %s (%s): %s", r.GetEntitlementId(), r.GetBeneficiaryEmail(), directory.FormatDuration(m.GetDecision().GetGrantedDuration().AsDuration()), r.GetJustification())
	case *igav1.RequestDenied:
		return fmt.Sprintf("denied by %s: %s", m.GetBy(), m.GetReason())
	case *igav1.RequestWithdrawn:
		s := fmt.Sprintf("request %s withdrawn by %s", e.GetRequestId(), m.GetBy())
		if m.GetReason() != "" {
			s += ": " + m.GetReason()
		}
		return s
	case *igav1.ReconcileDrift:
		return fmt.Sprintf("%s %s in %s (%s)", strings.ToLower(strings.TrimPrefix(m.GetKind().String(), "DRIFT_KIND_")), m.GetPersonEmail(), m.GetGroup(), m.GetEntitlementId())
	case *igav1.GrantChanged:
		gr := m.GetGrant()
		s := fmt.Sprintf("%s %s for %s", gr.GetEntitlementId(), grantStatus(gr.GetStatus()), gr.GetPersonEmail())
		if gr.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			s += " until " + when(gr.GetExpiresAt())
		}
		if gr.GetRevokeReason() != "" {
			s += " (" + gr.GetRevokeReason() + ")"
		}
		return s
	case *igav1.DeadLetter:
		return fmt.Sprintf("%s failed on %s: %s", m.GetConsumer(), m.GetSubject(), m.GetReason())
	}
	return string(msg.ProtoReflect().Descriptor().Name())
}

func listOf[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

func tableOrEmpty(w io.Writer, header string, rows [][]string, empty string) error {
	if len(rows) == 0 {
		fmt.Fprintln(w, empty)
		return nil
	}
	table(w, header, rows)
	return nil
}
