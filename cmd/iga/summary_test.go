package main

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Every event kind iga publishes reads as a sentence in `iga events`, not as a type name.
func TestEventSummaries(t *testing.T) {
	for want, m := range map[string]proto.Message{
		"request r-1 withdrawn by sam.patel@acme.example: not needed": &igav1.RequestWithdrawn{RequestId: "r-1", By: "sam.patel@acme.example", Reason: "not needed"},
		"missing_member dana.reyes@acme.example in grafana-payments-viewer (grafana:payments-viewer)": &igav1.ReconcileDrift{
			Kind: igav1.DriftKind_DRIFT_KIND_MISSING_MEMBER, PersonEmail: "dana.reyes@acme.example", Group: "grafana-payments-viewer", EntitlementId: "grafana:payments-viewer"},
		"denied by policy: no rule": &igav1.RequestDenied{RequestId: "r-2", By: "policy", Reason: "no rule"},
	} {
		data, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := summary(&igav1.Envelope{RequestId: "r-1", Data: data}); got != want {
			t.Errorf("summary = %q, want %q", got, want)
		}
	}
}
