package conv_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// Past the cap, a draft keeps how the request began and its newest calls, and counts
// what it dropped; the trail of the submitted request says so too.
func TestRecordKeepsHeadAndNewestPastTheCap(t *testing.T) {
	st := conv.New("c1")
	st.Draft = &conv.Draft{}
	total := conv.MaxToolCalls + 10
	for i := range total {
		st.Record(conv.ToolCall{Tool: fmt.Sprintf("call-%d", i), At: time.Unix(int64(i), 0)})
	}
	calls := st.Draft.ToolCalls
	if len(calls) != conv.MaxToolCalls || st.Draft.DroppedCalls != 10 {
		t.Fatalf("%d calls kept, %d dropped", len(calls), st.Draft.DroppedCalls)
	}
	if calls[0].Tool != "call-0" || calls[conv.KeptHead-1].Tool != fmt.Sprintf("call-%d", conv.KeptHead-1) {
		t.Fatalf("the head was not kept: %s … %s", calls[0].Tool, calls[conv.KeptHead-1].Tool)
	}
	if calls[len(calls)-1].Tool != fmt.Sprintf("call-%d", total-1) {
		t.Fatalf("the newest call was dropped: last kept %s", calls[len(calls)-1].Tool)
	}
	if calls[conv.KeptHead].Tool != fmt.Sprintf("call-%d", conv.KeptHead+10) {
		t.Fatalf("after the head comes %s, want the oldest call not dropped", calls[conv.KeptHead].Tool)
	}
	st.Submitted("r-1")
	if tr := st.Trails[len(st.Trails)-1]; tr.RequestID != "r-1" || tr.DroppedCalls != 10 || len(tr.ToolCalls) != conv.MaxToolCalls {
		t.Fatalf("trail = %s, %d dropped, %d calls", tr.RequestID, tr.DroppedCalls, len(tr.ToolCalls))
	}
	// No draft, nothing kept.
	st.Record(conv.ToolCall{Tool: "status"})
	if st.Draft != nil {
		t.Fatal("a call outside a request made a draft")
	}
}
