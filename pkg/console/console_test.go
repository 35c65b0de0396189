package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/console"
	"github.com/agentic-iga/iga/pkg/console/consoletest"
	"github.com/agentic-iga/iga/pkg/svc"
)

// start serves the console over fake iga services.
func start(t *testing.T) (*consoletest.Fake, *httptest.Server) {
	t.Helper()
	fake, conn := consoletest.Start(t)
	srv := httptest.NewServer(console.Handler(conn, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return fake, srv
}

// call sends a request and decodes the JSON answer into a generic map.
func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON (%v): %q", method, path, err, raw)
		}
	}
	return resp.StatusCode, out
}

func list(m map[string]any, key string) []map[string]any {
	var out []map[string]any
	items, _ := m[key].([]any)
	for _, it := range items {
		if o, ok := it.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		o, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = o[p]
	}
	s, _ := cur.(string)
	return s
}

// submit chats as dana until a request exists and returns its id.
func submit(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	code, first := call(t, srv, "POST", "/api/chat", `{"as":"dana.reyes@acme.example","text":"I need the payments dashboards"}`)
	if code != http.StatusOK {
		t.Fatalf("chat: %d %v", code, first)
	}
	conv := str(first, "conversation_id")
	body := fmt.Sprintf(`{"as":"dana.reyes@acme.example","text":"viewer","option_value":%q,"conversation_id":%q}`, consoletest.Viewer, conv)
	code, second := call(t, srv, "POST", "/api/chat", body)
	replies := list(second, "replies")
	if code != http.StatusOK || len(replies) != 1 || replies[0]["request_id"] == "" {
		t.Fatalf("pick option: %d %v", code, second)
	}
	return str(replies[0], "request_id")
}

func TestPageIsServedWithStrictHeaders(t *testing.T) {
	_, srv := start(t)
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html", "Sign in to iga"},
		{"/app.js", "javascript", "EventSource"},
		{"/app.css", "text/css", ".countdown"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	} {
		resp, err := srv.Client().Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.contains, strings.Contains(string(body), tc.contains))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
	}
}

func TestPerson(t *testing.T) {
	_, srv := start(t)
	code, body := call(t, srv, "GET", "/api/person?email=Dana.Reyes@acme.example", "")
	if code != http.StatusOK || str(body, "person", "name") != "Dana Reyes" || str(body, "person", "title") != "Financial Analyst" {
		t.Fatalf("person: %d %v", code, body)
	}
	code, body = call(t, srv, "GET", "/api/person?email=nobody@acme.example", "")
	if code != http.StatusNotFound || !strings.Contains(str(body, "error"), "no one with the email nobody@acme.example") {
		t.Fatalf("unknown person: %d %v", code, body)
	}
	code, body = call(t, srv, "GET", "/api/person", "")
	if code != http.StatusBadRequest || !strings.Contains(str(body, "error"), "email is required") {
		t.Fatalf("no email: %d %v", code, body)
	}
}

func TestChatAsksThenSubmits(t *testing.T) {
	fake, srv := start(t)
	code, first := call(t, srv, "POST", "/api/chat", `{"as":"dana.reyes@acme.example","text":"I need to look at the payments dashboards for the audit"}`)
	replies := list(first, "replies")
	if code != http.StatusOK || len(replies) != 1 {
		t.Fatalf("chat: %d %v", code, first)
	}
	if str(replies[0], "kind") != "REPLY_KIND_QUESTION" || len(list(replies[0], "options")) != 3 {
		t.Fatalf("want a question with three options, got %v", replies[0])
	}
	if str(replies[0], "channel") != console.Channel || str(replies[0], "channel_user_id") != "dana.reyes@acme.example" {
		t.Fatalf("message should come from the web channel as dana: %v", replies[0])
	}
	conv := str(first, "conversation_id")
	if conv == "" {
		t.Fatal("no conversation id")
	}
	body := fmt.Sprintf(`{"as":"dana.reyes@acme.example","text":"View","option_value":%q,"conversation_id":%q,"message_id":"m-2"}`, consoletest.Viewer, conv)
	code, second := call(t, srv, "POST", "/api/chat", body)
	replies = list(second, "replies")
	if code != http.StatusOK || str(second, "conversation_id") != conv || len(replies) != 1 {
		t.Fatalf("option: %d %v", code, second)
	}
	id := str(replies[0], "request_id")
	if str(replies[0], "kind") != "REPLY_KIND_SUBMITTED" || id == "" || str(replies[0], "in_reply_to") != "m-2" {
		t.Fatalf("want a submitted reply to m-2, got %v", replies[0])
	}
	if a, ok := fake.Approval(id); !ok || a.GetApprovers()[0] != consoletest.Marco {
		t.Fatalf("approval for %s: %v %v", id, a, ok)
	}
}

func TestBadInputGetsAClearAnswer(t *testing.T) {
	_, srv := start(t)
	big := `{"as":"dana.reyes@acme.example","text":"` + strings.Repeat("a", 70<<10) + `"}`
	padded := `{"as":"dana.reyes@acme.example","text":"hi"}` + strings.Repeat(" ", 70<<10)
	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		says                     string
	}{
		{"not json", "POST", "/api/chat", `{"as":`, 400, "not valid JSON"},
		{"garbage", "POST", "/api/chat", `hello`, 400, "not valid JSON"},
		{"empty body", "POST", "/api/chat", ``, 400, "empty"},
		{"two values", "POST", "/api/chat", `{"as":"dana.reyes@acme.example","text":"a"} {}`, 400, "more than one JSON value"},
		{"unknown field", "POST", "/api/chat", `{"as":"dana.reyes@acme.example","txt":"a"}`, 400, `unknown field "txt"`},
		{"wrong type", "POST", "/api/chat", `{"as":42,"text":"a"}`, 400, "not valid JSON"},
		{"missing as", "POST", "/api/chat", `{"text":"I need grafana"}`, 400, "as is required"},
		{"as not an email", "POST", "/api/chat", `{"as":"dana","text":"I need grafana"}`, 400, "must be an email"},
		{"nothing said", "POST", "/api/chat", `{"as":"dana.reyes@acme.example","text":"   "}`, 400, "text or option_value is required"},
		{"over 64 KB", "POST", "/api/chat", big, 400, "over 64 KB"},
		{"over 64 KB of padding", "POST", "/api/chat", padded, 400, "over 64 KB"},
		{"requests without user", "GET", "/api/requests", "", 400, "user is required"},
		{"approvals without as", "GET", "/api/approvals", "", 400, "as is required"},
		{"grants without user", "GET", "/api/grants?all=true", "", 400, "user is required"},
		{"grants all not a bool", "GET", "/api/grants?user=dana.reyes@acme.example&all=maybe", "", 400, "all is true or false"},
		{"decide without as", "POST", "/api/approvals/r-1/approve", `{"reason":"ok"}`, 400, "as is required"},
		{"decide bad json", "POST", "/api/approvals/r-1/approve", `[`, 400, "not valid JSON"},
		{"deny without reason", "POST", "/api/approvals/r-1/deny", `{"as":"marco.bianchi@acme.example"}`, 400, "reason is required"},
		{"decide unknown action", "POST", "/api/approvals/r-1/maybe", `{"as":"marco.bianchi@acme.example"}`, 404, "approve or deny"},
		{"events last not a number", "GET", "/api/events?last=lots", "", 400, "last is a number"},
		{"events filter outside iga.evt", "GET", "/api/events?filter=iga.cmd.>", "", 400, "iga.evt."},
		{"unknown route", "GET", "/api/nope", "", 404, "no API route GET /api/nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(t, srv, tc.method, tc.path, tc.body)
			if code != tc.code || !strings.Contains(str(body, "error"), tc.says) {
				t.Fatalf("want %d saying %q, got %d %v", tc.code, tc.says, code, body)
			}
		})
	}

	t.Run("form post", func(t *testing.T) {
		resp, err := srv.Client().Post(srv.URL+"/api/chat", "application/x-www-form-urlencoded", strings.NewReader("as=x&text=y"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("form post: %d", resp.StatusCode)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL + "/api/chat")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /api/chat: %d", resp.StatusCode)
		}
	})
}

func TestRequestsListTheUsersRequests(t *testing.T) {
	_, srv := start(t)
	id := submit(t, srv)
	code, body := call(t, srv, "GET", "/api/requests?user=dana.reyes@acme.example", "")
	if code != http.StatusOK {
		t.Fatalf("requests: %d %v", code, body)
	}
	found := false
	for _, v := range list(body, "requests") {
		if str(v, "request", "id") == id {
			found = true
			if str(v, "status") != "REQUEST_STATUS_PENDING_APPROVAL" || str(v, "request", "duration") != "28800s" {
				t.Errorf("request %s: %v", id, v)
			}
		}
	}
	if !found {
		t.Fatalf("request %s not listed for dana: %v", id, body)
	}
	code, body = call(t, srv, "GET", "/api/requests?user=sam.patel@acme.example", "")
	if code != http.StatusOK || len(list(body, "requests")) != 0 {
		t.Fatalf("sam has no requests: %d %v", code, body)
	}
}

func TestApproveMakesAGrant(t *testing.T) {
	fake, srv := start(t)
	id := submit(t, srv)

	code, body := call(t, srv, "GET", "/api/approvals?as=marco.bianchi@acme.example", "")
	if code != http.StatusOK || len(list(body, "approvals")) != 1 || str(list(body, "approvals")[0], "id") != id {
		t.Fatalf("marco's approvals: %d %v", code, body)
	}
	code, body = call(t, srv, "GET", "/api/approvals?as=dana.reyes@acme.example", "")
	if code != http.StatusOK || len(list(body, "approvals")) != 0 {
		t.Fatalf("dana has nothing to approve: %d %v", code, body)
	}

	for _, tc := range []struct {
		name, path, body string
		code             int
		says             string
	}{
		{"self-approval", "/api/approvals/" + id + "/approve", `{"as":"dana.reyes@acme.example"}`, 403, "your own request"},
		{"not an approver", "/api/approvals/" + id + "/approve", `{"as":"sam.patel@acme.example"}`, 403, "not an approver"},
		{"unknown approval", "/api/approvals/r-9999/approve", `{"as":"marco.bianchi@acme.example"}`, 404, "no approval r-9999"},
	} {
		code, body := call(t, srv, "POST", tc.path, tc.body)
		if code != tc.code || !strings.Contains(str(body, "error"), tc.says) {
			t.Errorf("%s: want %d saying %q, got %d %v", tc.name, tc.code, tc.says, code, body)
		}
	}
	for _, g := range fake.Grants() {
		if g.GetRequestId() == id {
			t.Fatalf("a refused decision granted access: %v", g)
		}
	}

	code, body = call(t, srv, "POST", "/api/approvals/"+id+"/approve", `{"as":"marco.bianchi@acme.example","reason":"audit week"}`)
	if code != http.StatusOK || str(body, "approval", "status") != "APPROVAL_STATUS_APPROVED" {
		t.Fatalf("approve: %d %v", code, body)
	}
	code, body = call(t, srv, "POST", "/api/approvals/"+id+"/approve", `{"as":"marco.bianchi@acme.example"}`)
	if code != http.StatusConflict || !strings.Contains(str(body, "error"), "already approved") {
		t.Fatalf("second approve: %d %v", code, body)
	}

	code, body = call(t, srv, "GET", "/api/grants?user=dana.reyes@acme.example", "")
	if code != http.StatusOK {
		t.Fatalf("grants: %d %v", code, body)
	}
	var grant map[string]any
	for _, g := range list(body, "grants") {
		if str(g, "request_id") == id {
			grant = g
		}
		if str(g, "status") != "GRANT_STATUS_ACTIVE" {
			t.Errorf("without all, only active grants: %v", g)
		}
	}
	if grant == nil || str(grant, "entitlement_id") != consoletest.Viewer {
		t.Fatalf("no grant for %s: %v", id, body)
	}
	granted, _ := time.Parse(time.RFC3339Nano, str(grant, "granted_at"))
	expires, _ := time.Parse(time.RFC3339Nano, str(grant, "expires_at"))
	if expires.Sub(granted) != consoletest.RequestedDuration {
		t.Fatalf("grant should last the requested 8h: %v", grant)
	}

	code, body = call(t, srv, "GET", "/api/grants?user=dana.reyes@acme.example&all=true", "")
	statuses := map[string]bool{}
	for _, g := range list(body, "grants") {
		statuses[str(g, "status")] = true
	}
	if code != http.StatusOK || !statuses["GRANT_STATUS_REVOKED"] || !statuses["GRANT_STATUS_ACTIVE"] {
		t.Fatalf("all=true lists past grants too: %d %v", code, body)
	}
}

func TestDenyWithReason(t *testing.T) {
	fake, srv := start(t)
	id := submit(t, srv)
	code, body := call(t, srv, "POST", "/api/approvals/"+id+"/deny", `{"as":"marco.bianchi@acme.example","reason":"use the shared audit export instead"}`)
	if code != http.StatusOK || str(body, "approval", "status") != "APPROVAL_STATUS_DENIED" || str(body, "approval", "reason") != "use the shared audit export instead" {
		t.Fatalf("deny: %d %v", code, body)
	}
	for _, g := range fake.Grants() {
		if g.GetRequestId() == id {
			t.Fatalf("a denied request was granted: %v", g)
		}
	}
	_, body = call(t, srv, "GET", "/api/requests?user=dana.reyes@acme.example", "")
	for _, v := range list(body, "requests") {
		if str(v, "request", "id") == id && str(v, "status") != "REQUEST_STATUS_DENIED" {
			t.Fatalf("request after deny: %v", v)
		}
	}
}

// The requester withdraws a pending request; the approver can no longer decide it and
// nobody else may withdraw it.
func TestWithdrawAPendingRequest(t *testing.T) {
	fake, srv := start(t)
	id := submit(t, srv)
	code, body := call(t, srv, "POST", "/api/requests/"+id+"/withdraw", `{"as":"marco.bianchi@acme.example"}`)
	if code != http.StatusForbidden || !strings.Contains(str(body, "error"), "only the person who asked") {
		t.Fatalf("withdraw by the approver: %d %v", code, body)
	}
	code, body = call(t, srv, "POST", "/api/requests/"+id+"/withdraw", `{"as":"dana.reyes@acme.example","reason":"not needed"}`)
	if code != http.StatusOK || str(body, "request", "status") != "REQUEST_STATUS_WITHDRAWN" {
		t.Fatalf("withdraw: %d %v", code, body)
	}
	code, _ = call(t, srv, "POST", "/api/approvals/"+id+"/approve", `{"as":"marco.bianchi@acme.example"}`)
	if code == http.StatusOK {
		t.Fatal("a withdrawn request was approved")
	}
	for _, g := range fake.Grants() {
		if g.GetRequestId() == id {
			t.Fatalf("a withdrawn request was granted: %v", g)
		}
	}
	if code, body := call(t, srv, "POST", "/api/requests/"+id+"/withdraw", `{"as":"not an email"}`); code != http.StatusBadRequest {
		t.Fatalf("bad identity: %d %v", code, body)
	}
}

// sse reads one Server-Sent Events stream.
type sse struct {
	rd *bufio.Reader
}

type sseEvent struct {
	id, event, data string
}

func (s *sse) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.data != "" || ev.event != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestEventsStreamHistoryThenLive(t *testing.T) {
	_, srv := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events?last=10", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stream := &sse{rd: bufio.NewReader(resp.Body)}

	// The history: the fake starts with two grants made and one revoked.
	var types []string
	for len(types) < 3 {
		ev, err := stream.next()
		if err != nil {
			t.Fatalf("history: %v (got %v)", err, types)
		}
		var env map[string]any
		if err := json.Unmarshal([]byte(ev.data), &env); err != nil {
			t.Fatalf("event data is not JSON: %q", ev.data)
		}
		if ev.id == "" || str(env, "data", "@type") != "type.googleapis.com/iga.v1.GrantChanged" {
			t.Fatalf("history event: %+v", ev)
		}
		types = append(types, str(env, "type"))
	}
	if types[2] != "iga.grant.revoked.v1" {
		t.Fatalf("history order: %v", types)
	}

	// Live: a submission shows up on the open stream.
	id := submit(t, srv)
	for {
		ev, err := stream.next()
		if err != nil {
			t.Fatalf("waiting for the live submission of %s: %v", id, err)
		}
		var env map[string]any
		_ = json.Unmarshal([]byte(ev.data), &env)
		if str(env, "subject") == "iga.evt.request.submitted" {
			if str(env, "request_id") != id || str(env, "data", "request", "entitlement_id") != consoletest.Viewer {
				t.Fatalf("submitted event: %v", env)
			}
			return
		}
	}
}

func TestEventsFilter(t *testing.T) {
	_, srv := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events?filter=iga.evt.grant.revoked", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ev, err := (&sse{rd: bufio.NewReader(resp.Body)}).next()
	if err != nil || !strings.Contains(ev.data, `"subject":"iga.evt.grant.revoked"`) {
		t.Fatalf("filtered event: %+v %v", ev, err)
	}
}

// TestUnreachableIga points the console at an address where nothing listens.
func TestUnreachableIga(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conn, err := svc.DialUpstream(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv := httptest.NewServer(console.Handler(conn, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)

	const says = "iga is not reachable: is `iga dev` running?"
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/person?email=dana.reyes@acme.example", ""},
		{"POST", "/api/chat", `{"as":"dana.reyes@acme.example","text":"hi"}`},
		{"GET", "/api/requests?user=dana.reyes@acme.example", ""},
		{"GET", "/api/approvals?as=marco.bianchi@acme.example", ""},
		{"POST", "/api/approvals/r-1/approve", `{"as":"marco.bianchi@acme.example"}`},
		{"GET", "/api/grants?user=dana.reyes@acme.example", ""},
	} {
		code, body := call(t, srv, tc.method, tc.path, tc.body)
		if code != http.StatusServiceUnavailable || str(body, "error") != says {
			t.Errorf("%s %s: want 503 %q, got %d %v", tc.method, tc.path, says, code, body)
		}
	}

	// The event stream may fail before or after its headers; either way it says so.
	resp, err := srv.Client().Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), "iga is not reachable") {
		t.Fatalf("events when unreachable: %d %q", resp.StatusCode, raw)
	}
}

func TestNoticesTellTheRequesterWhatHappened(t *testing.T) {
	_, srv := start(t)
	id := submit(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/notices?as=dana.reyes@acme.example", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("notices: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stream := &sse{rd: bufio.NewReader(resp.Body)}
	if code, body := call(t, srv, "POST", "/api/approvals/"+id+"/approve", `{"as":"marco.bianchi@acme.example"}`); code != http.StatusOK {
		t.Fatalf("approve: %d %v", code, body)
	}
	ev, err := stream.next()
	if err != nil {
		t.Fatal(err)
	}
	var reply map[string]any
	if err := json.Unmarshal([]byte(ev.data), &reply); err != nil {
		t.Fatalf("notice is not JSON: %q", ev.data)
	}
	if str(reply, "request_id") != id || str(reply, "kind") != "REPLY_KIND_NOTICE" || !strings.Contains(str(reply, "text"), "Granted") {
		t.Fatalf("notice = %v", reply)
	}

	for _, tc := range []struct {
		path string
		code int
	}{
		{"/api/notices", 400},
		{"/api/notices?as=not-an-email", 400},
		{"/api/notices?as=mallory@evil.example", 404},
	} {
		if code, body := call(t, srv, "GET", tc.path, ""); code != tc.code || str(body, "error") == "" {
			t.Errorf("%s: %d %v, want %d with an error", tc.path, code, body, tc.code)
		}
	}
}
