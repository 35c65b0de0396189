package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// dial connects to the stack's gRPC address. The connection is lazy: the first call says
// clearly when nothing listens there.
func (g *globals) dial() (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(g.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("iga at %s: %w", g.addr, err)
	}
	return conn, nil
}

// explain turns a gRPC error into a sentence that says what to do.
func (g *globals) explain(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code().String() {
	case "Unavailable":
		return fmt.Errorf("cannot reach iga at %s: is it running? Start it with 'make run' (or 'iga dev'), or point --addr / IGA_ADDR at your stack", g.addr)
	case "DeadlineExceeded":
		return fmt.Errorf("iga at %s did not answer in time: %s", g.addr, st.Message())
	}
	return fmt.Errorf("%s", st.Message())
}

// unary dials the stack, makes one call with a time limit, and explains its error.
func unary[Resp any](g *globals, call func(ctx context.Context, conn *grpc.ClientConn) (Resp, error)) (Resp, error) {
	return unaryWithin(g, 30*time.Second, call)
}

// unaryWithin is unary with a time limit of its own, for calls that take longer.
func unaryWithin[Resp any](g *globals, limit time.Duration, call func(ctx context.Context, conn *grpc.ClientConn) (Resp, error)) (Resp, error) {
	var zero Resp
	conn, err := g.dial()
	if err != nil {
		return zero, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	resp, err := call(ctx, conn)
	if err != nil {
		return zero, g.explain(err)
	}
	return resp, nil
}

// printJSON writes protobuf messages as one JSON document (an array for many).
func printJSON(w io.Writer, msgs ...proto.Message) error {
	opts := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}
	raw := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		b, err := opts.Marshal(m)
		if err != nil {
			return err
		}
		raw = append(raw, b)
	}
	var v any = raw
	if len(raw) == 1 {
		v = raw[0]
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

func when(ts *timestamppb.Timestamp) string {
	if ts == nil || !ts.IsValid() || ts.AsTime().IsZero() {
		return "-"
	}
	return ts.AsTime().Local().Format("2006-01-02 15:04:05")
}

func trimEnum(s, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s, prefix))
}

func requestStatus(s igav1.RequestStatus) string {
	return strings.ReplaceAll(trimEnum(s.String(), "REQUEST_STATUS_"), "_", " ")
}

func approvalStatus(s igav1.ApprovalStatus) string { return trimEnum(s.String(), "APPROVAL_STATUS_") }

// approvalState is an approval's status, in a review's own words for a break-glass review:
// review pending, confirmed, rejected, unreviewed.
func approvalState(a *igav1.Approval) string {
	if a.GetKind() != igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW {
		return approvalStatus(a.GetStatus())
	}
	switch a.GetStatus() {
	case igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
		return "review pending"
	case igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED:
		return "confirmed"
	case igav1.ApprovalStatus_APPROVAL_STATUS_DENIED:
		return "rejected"
	case igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED:
		return "unreviewed"
	}
	return approvalStatus(a.GetStatus())
}

func grantStatus(s igav1.GrantStatus) string { return trimEnum(s.String(), "GRANT_STATUS_") }

func stdout() io.Writer { return os.Stdout }
