package eval_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/eval"
	"github.com/agentic-iga/iga/services/agent/planner"
)

// TestDevSet scores the built-in planner on the dev set against the demo dataset and
// the in-memory stand-in policy and holds it to the goals. cmd/iga's TestEval* hold the
// same set to them against the demo's real policy.
func TestDevSet(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatalf("the demo dataset does not load: %v", err)
	}
	f, err := os.Open("../testdata/eval/dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases, err := eval.LoadCases(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("dev set has %d conversations, want >= 100", len(cases))
	}
	rep, err := eval.Run(context.Background(), snap, cases, eval.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out, testing.Verbose())
	t.Log("\n" + out.String())
	if !rep.Passed() {
		t.Fatalf("goals not met:\n%s", out.String())
	}
}

func TestLoadCasesRejectsBadLines(t *testing.T) {
	for _, in := range []string{
		`{"id":"x","turns":["hi"],"expect":{}}`,                                   // no person
		`{"id":"x","person":"a@b.c","turns":[],"expect":{}}`,                      // no turns
		`{"id":"x","person":"a@b.c","turns":["hi"],"expect":{"duration":"ever"}}`, // bad duration
		`{"id":"x","person":"a@b.c","turns":["hi"],"expect":{},"surprise":1}`,     // unknown field
		`not json`,
	} {
		if _, err := eval.LoadCases(strings.NewReader(in)); err == nil {
			t.Errorf("LoadCases(%s) accepted it", in)
		}
	}
	cs, err := eval.LoadCases(strings.NewReader("# comment\n\n" + `{"person":"a@b.c","turns":["hi",{"option":"yes"}],"expect":{"clarify":true}}`))
	if err != nil || len(cs) != 1 || cs[0].Turns[1].Option != "yes" || cs[0].Turns[0].Text != "hi" || !*cs[0].Expect.Clarify {
		t.Fatalf("LoadCases: %+v %v", cs, err)
	}
}

// TestHoldout scores the held-out set, which the planner was not tuned on: it reports the
// numbers and holds only the safety goal (no over-permission) as a requirement.
func TestHoldout(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatalf("the demo dataset does not load: %v", err)
	}
	f, err := os.Open("../testdata/eval/holdout.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases, err := eval.LoadCases(f)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Run(context.Background(), snap, cases, eval.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out, testing.Verbose())
	t.Log("\n" + out.String())
	if rep.OverPermission.Hits > 0 {
		t.Fatalf("over-permission on the held-out set:\n%s", out.String())
	}
}

// The runner scores the Gemini planner too; against an unavailable model every turn falls
// back to the built-in rules, so the scores hold and each fallback is said.
func TestGeminiFallbackScores(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatalf("the demo dataset does not load: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cases, err := eval.LoadCases(strings.NewReader(
		`{"id":"a","person":"dana.reyes@acme.example","turns":["I need to look at the payments dashboards for the audit this week","yes"],"expect":{"entitlement":"grafana:payments-viewer","duration":"70h","submitted":true}}` + "\n" +
			`{"id":"b","person":"sam.patel@acme.example","turns":["I need access to snowflake"],"expect":{"clarify":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Run(context.Background(), snap, cases, eval.Gemini(planner.GeminiConfig{APIKey: "k", BaseURL: srv.URL, Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Planner != "gemini" || !rep.Passed() || rep.Top1.Hits != 1 || rep.ClarRecall.Hits != 1 {
		var out bytes.Buffer
		rep.Print(&out, true)
		t.Fatalf("gemini fallback scores:\n%s", out.String())
	}
	if !strings.HasPrefix(rep.Outcomes[0].Replies[0].Text, planner.FallbackNote) {
		t.Fatalf("fallback not said: %q", rep.Outcomes[0].Replies[0].Text)
	}
}
