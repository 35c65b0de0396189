package agent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/agent"
	"github.com/agentic-iga/iga/services/agent/planner"
)

// TestGeminiPlannerThroughTheBus configures the agent with the gemini planner against a
// local fake Gemini API that answers with a scripted function call, and drives a
// conversation through the bus to a submitted request.
func TestGeminiPlannerThroughTheBus(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"propose_request",`+
			`"args":{"entitlement_id":"snowflake:analyst","duration":"2d"}}}]},"finishReason":"STOP"}]}`)
	}))
	defer srv.Close()
	w := newWorld(t)
	s, err := agent.NewWithRedis(w.env, agent.Config{RedisPrefix: w.prefix, ConversationTTL: time.Hour, Planner: "gemini",
		Gemini: planner.GeminiConfig{APIKey: "test-key", Model: "gemini-test", BaseURL: srv.URL, Timeout: 10 * time.Second}}, w.rdb)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	sam := "sam.patel@acme.example"
	w.send("c-gem", "t1", sam, "I'd like to run some SELECTs against the warehouse for a couple of days", "")
	if r := w.reply(); r.GetKind() != igav1.ReplyKind_REPLY_KIND_PROPOSAL || !strings.Contains(r.GetText(), "analyst") {
		t.Fatalf("proposal: %s %q", r.GetKind(), r.GetText())
	}
	w.send("c-gem", "t2", sam, "yes", "")
	if r := w.reply(); r.GetKind() != igav1.ReplyKind_REPLY_KIND_SUBMITTED {
		t.Fatalf("submitted: %q", r.GetText())
	}
	if reqs := w.requests(); len(reqs) != 1 || reqs[0].GetEntitlementId() != "snowflake:analyst" || reqs[0].GetDuration().AsDuration() != 48*time.Hour {
		t.Fatalf("requests: %v", reqs)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d model calls, want 1 (the yes is handled by rules)", calls.Load())
	}
}

func TestGeminiPlannerNeedsAKey(t *testing.T) {
	w := newWorld(t)
	if _, err := agent.NewWithRedis(w.env, agent.Config{Planner: "gemini"}, w.rdb); err == nil || !strings.Contains(err.Error(), "API key") {
		t.Fatalf("gemini without a key: %v", err)
	}
	if _, err := agent.NewWithRedis(w.env, agent.Config{Planner: "oracle"}, w.rdb); err == nil {
		t.Fatal("unknown planner accepted")
	}
}
