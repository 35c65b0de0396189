// Package console is iga's web console: a single page (chat with the access agent, my
// requests, approvals waiting for me, my access, live events) and the small JSON API under
// /api/ it uses, translating to the iga gRPC services.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Channel is the chat channel name the console's messages carry.
const Channel = "web"

// maxBody caps every JSON request body.
const maxBody = 64 << 10

// Waits for the services. Chat waits for the agent, so it gets longer.
const (
	callTimeout  = 10 * time.Second
	chatWait     = 15 * time.Second
	sseHeartbeat = 15 * time.Second
)

//go:embed web
var webFS embed.FS

// server holds the gRPC clients the API translates to.
type server struct {
	log       *slog.Logger
	intake    igav1.IntakeServiceClient
	requests  igav1.RequestsServiceClient
	approvals igav1.ApprovalServiceClient
	grants    igav1.EntitlementsServiceClient
	events    igav1.EventsServiceClient
	directory igav1.DirectoryServiceClient
}

// Handler serves the console page at / and its JSON API under /api/. conn reaches every
// iga gRPC service at one address (the shared listener of `iga dev`, or an ingress).
//
// The API (JSON bodies are protojson with proto field names; errors are {"error": "..."}
// with the gRPC code mapped to an HTTP status):
//
//	GET  /api/person?email=                      DirectoryService.GetPerson (sign-in check)
//	POST /api/chat {as, text, option_value, conversation_id, message_id?}
//	                                             IntakeService.Chat on channel "web"
//	GET  /api/requests?user=                     RequestsService.ListRequests
//	POST /api/requests/{id}/withdraw {as, reason} RequestsService.WithdrawRequest
//	GET  /api/approvals?as=                      ApprovalService.ListApprovals (pending, decidable by as)
//	POST /api/approvals/{id}/approve|deny {as, reason}
//	                                             ApprovalService.Decide (deny needs a reason)
//	GET  /api/grants?user=&all=                  EntitlementsService.ListGrants (all: include inactive)
//	GET  /api/events?last=&filter=               EventsService.Watch follow=true as Server-Sent Events
//	GET  /api/notices?as=&conversation_id=       IntakeService.Notices (channel "web") as Server-Sent Events
//
// Identity is dev-mode: the page says who the user is ("as") and the API trusts it, as
// `iga chat --as` does. A production deployment puts SSO in front of the console.
func Handler(conn *grpc.ClientConn, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{
		log:       log.With("component", "console"),
		intake:    igav1.NewIntakeServiceClient(conn),
		requests:  igav1.NewRequestsServiceClient(conn),
		approvals: igav1.NewApprovalServiceClient(conn),
		grants:    igav1.NewEntitlementsServiceClient(conn),
		events:    igav1.NewEventsServiceClient(conn),
		directory: igav1.NewDirectoryServiceClient(conn),
	}
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(fmt.Sprintf("console: embedded web files: %v", err)) // the embed directive guarantees it
	}

	mux := http.NewServeMux()
	route(mux, "GET", "/api/person", s.person)
	route(mux, "POST", "/api/chat", s.chat)
	route(mux, "GET", "/api/requests", s.listRequests)
	route(mux, "POST", "/api/requests/{id}/withdraw", s.withdraw)
	route(mux, "GET", "/api/approvals", s.listApprovals)
	route(mux, "POST", "/api/approvals/{id}/{action}", s.decide)
	route(mux, "GET", "/api/grants", s.listGrants)
	route(mux, "GET", "/api/events", s.watchEvents)
	route(mux, "GET", "/api/notices", s.notices)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
	})
	files := http.FileServerFS(static)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console page is read with GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return secureHeaders(mux)
}

// route registers an API route, and a JSON 405 for its path with any other method (the
// mux's own 405 would lose to the /api/ catch-all).
func route(mux *http.ServeMux, method, path string, h http.HandlerFunc) {
	mux.HandleFunc(method+" "+path, h)
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s", r.URL.Path, method, r.Method))
	})
}

// secureHeaders keeps the page to its own origin: no inline script, no framing.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// GET /api/person?email= — who is signing in.
func (s *server) person(w http.ResponseWriter, r *http.Request) {
	email, err := emailParam(r, "email")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.directory.GetPerson(ctx, &igav1.GetPersonRequest{Email: email})
	if err != nil {
		s.writeRPCError(w, r, "get person", err)
		return
	}
	writeProto(w, resp)
}

// chatBody is what the page posts to /api/chat.
type chatBody struct {
	As             string `json:"as"`
	Text           string `json:"text"`
	OptionValue    string `json:"option_value"`
	ConversationID string `json:"conversation_id"`
	// MessageID lets the page retry a message without it being taken twice.
	MessageID string `json:"message_id"`
}

// POST /api/chat — hands a message to intake and returns the agent's replies.
func (s *server) chat(w http.ResponseWriter, r *http.Request) {
	var body chatBody
	if !decodeBody(w, r, &body) {
		return
	}
	as, err := checkEmail("as", body.As)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	text := strings.TrimSpace(body.Text)
	if text == "" && body.OptionValue == "" {
		writeError(w, http.StatusBadRequest, "say something: text or option_value is required")
		return
	}
	if len(body.ConversationID) > 200 || len(body.MessageID) > 200 {
		writeError(w, http.StatusBadRequest, "conversation_id and message_id are at most 200 characters")
		return
	}
	msgID := body.MessageID
	if msgID == "" {
		msgID = newID()
	}
	ctx, cancel := context.WithTimeout(r.Context(), chatWait+5*time.Second)
	defer cancel()
	resp, err := s.intake.Chat(ctx, &igav1.ChatRequest{
		Message: &igav1.ChatMessage{
			Channel:        Channel,
			ChannelUserId:  as,
			ConversationId: body.ConversationID,
			MessageId:      msgID,
			Text:           text,
			OptionValue:    body.OptionValue,
			SentAt:         timestamppb.Now(),
		},
		Timeout: durationpb.New(chatWait),
	})
	if err != nil {
		s.writeRPCError(w, r, "chat", err)
		return
	}
	writeProto(w, resp)
}

// GET /api/requests?user= — requests where the user is requester or beneficiary.
func (s *server) listRequests(w http.ResponseWriter, r *http.Request) {
	user, err := emailParam(r, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.requests.ListRequests(ctx, &igav1.ListRequestsRequest{PersonEmail: user})
	if err != nil {
		s.writeRPCError(w, r, "list requests", err)
		return
	}
	writeProto(w, resp)
}

// GET /api/approvals?as= — pending approvals this person may decide now.
func (s *server) listApprovals(w http.ResponseWriter, r *http.Request) {
	as, err := emailParam(r, "as")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{
		ApproverEmail: as,
		Statuses:      []igav1.ApprovalStatus{igav1.ApprovalStatus_APPROVAL_STATUS_PENDING},
	})
	if err != nil {
		s.writeRPCError(w, r, "list approvals", err)
		return
	}
	writeProto(w, resp)
}

// decideBody is what the page posts to approve or deny.
type decideBody struct {
	As     string `json:"as"`
	Reason string `json:"reason"`
}

// actOn reads what an action on a record posts: the record's id from the path (what
// names the kind of record in errors), who acts and why. On a bad call it has answered.
func actOn(w http.ResponseWriter, r *http.Request, what string) (id, as, reason string, ok bool) {
	id = r.PathValue("id")
	if id == "" || len(id) > 200 {
		writeError(w, http.StatusBadRequest, "the "+what+" id is missing or too long")
		return "", "", "", false
	}
	var body decideBody
	if !decodeBody(w, r, &body) {
		return "", "", "", false
	}
	as, err := checkEmail("as", body.As)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", "", "", false
	}
	reason = strings.TrimSpace(body.Reason)
	if len(reason) > 2000 {
		writeError(w, http.StatusBadRequest, "reason is at most 2000 characters")
		return "", "", "", false
	}
	return id, as, reason, true
}

// POST /api/requests/{id}/withdraw — the requester takes back a request still waiting.
func (s *server) withdraw(w http.ResponseWriter, r *http.Request) {
	id, as, reason, ok := actOn(w, r, "request")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.requests.WithdrawRequest(ctx, &igav1.WithdrawRequestRequest{RequestId: id, RequesterEmail: as, Reason: reason})
	if err != nil {
		s.writeRPCError(w, r, "withdraw "+id, err)
		return
	}
	s.log.Info("request withdrawn", "request_id", id, "by", as)
	writeProto(w, resp)
}

// POST /api/approvals/{id}/approve|deny — records the approver's decision.
func (s *server) decide(w http.ResponseWriter, r *http.Request) {
	var approve bool
	switch r.PathValue("action") {
	case "approve":
		approve = true
	case "deny":
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s: the action is approve or deny", r.Method, r.URL.Path))
		return
	}
	id, as, reason, ok := actOn(w, r, "approval")
	if !ok {
		return
	}
	if !approve && reason == "" {
		writeError(w, http.StatusBadRequest, "say why you deny: reason is required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.approvals.Decide(ctx, &igav1.DecideRequest{ApprovalId: id, ApproverEmail: as, Approve: approve, Reason: reason})
	if err != nil {
		s.writeRPCError(w, r, "decide "+id, err)
		return
	}
	s.log.Info("approval decided", "approval_id", id, "approver", as, "approve", approve)
	writeProto(w, resp)
}

// GET /api/grants?user=&all= — the user's grants; all=true includes revoked and failed.
func (s *server) listGrants(w http.ResponseWriter, r *http.Request) {
	user, err := emailParam(r, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	all, err := boolParam(r, "all")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := s.grants.ListGrants(ctx, &igav1.ListGrantsRequest{PersonEmail: user, IncludeInactive: all})
	if err != nil {
		s.writeRPCError(w, r, "list grants", err)
		return
	}
	writeProto(w, resp)
}

// GET /api/events?last=&filter= — the event history, then new events as they happen, as
// Server-Sent Events: each event is `id: <sequence>` and `data: <Envelope as JSON>`.
// A failure of the stream becomes an `event: failure` with {"error": "..."}.
func (s *server) watchEvents(w http.ResponseWriter, r *http.Request) {
	last := uint64(50)
	if v := r.URL.Query().Get("last"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 || n > 1000 {
			writeError(w, http.StatusBadRequest, "last is a number of events from 1 to 1000")
			return
		}
		last = n
	}
	filter := r.URL.Query().Get("filter")
	if len(filter) > 200 || (filter != "" && !strings.HasPrefix(filter, "iga.evt.")) {
		writeError(w, http.StatusBadRequest, `filter is a subject under iga.evt., e.g. "iga.evt.grant.>"`)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := s.events.Watch(ctx, &igav1.WatchRequest{Last: last, Follow: true, SubjectFilter: filter})
	if err != nil {
		s.writeRPCError(w, r, "watch events", err)
		return
	}
	streamSSE(s, w, ctx, "events", stream.Recv, func(resp *igav1.WatchResponse) (string, proto.Message) {
		return strconv.FormatUint(resp.GetEvent().GetSequence(), 10), resp.GetEvent()
	})
}

// GET /api/notices?as=&conversation_id= — what is said in the person's web conversation
// without answering a message (approved, denied, granted, revoked, reminders), as
// Server-Sent Events of Reply JSON.
func (s *server) notices(w http.ResponseWriter, r *http.Request) {
	as, err := emailParam(r, "as")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	conv := r.URL.Query().Get("conversation_id")
	if len(conv) > 200 {
		writeError(w, http.StatusBadRequest, "conversation_id is too long")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stream, err := s.intake.Notices(ctx, &igav1.NoticesRequest{Channel: Channel, ChannelUserId: as, ConversationId: conv})
	if err == nil {
		// A refused stream (an unknown person) ends without headers; its status comes with
		// the first Recv.
		var md metadata.MD
		if md, err = stream.Header(); err == nil && md == nil {
			_, err = stream.Recv()
		}
	}
	if err != nil {
		s.writeRPCError(w, r, "notices", err)
		return
	}
	streamSSE(s, w, ctx, "notices", stream.Recv, func(resp *igav1.NoticesResponse) (string, proto.Message) {
		return resp.GetReply().GetReplyId(), resp.GetReply()
	})
}

// streamSSE relays a gRPC stream as Server-Sent Events until the page goes away: each
// message is `id:` and `data:` (protojson); a failure of the stream becomes an
// `event: failure` with {"error": "..."}; comments keep idle connections alive.
func streamSSE[T any](s *server, w http.ResponseWriter, ctx context.Context, what string, recvFn func() (T, error), encode func(T) (string, proto.Message)) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream lives as long as the page
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n: iga %s\n\n", what)
	if err := rc.Flush(); err != nil {
		s.log.Warn(what+" stream cannot flush", "err", err)
		return
	}

	type recv struct {
		resp T
		err  error
	}
	in := make(chan recv)
	go func() {
		for {
			resp, err := recvFn()
			select {
			case in <- recv{resp, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case m := <-in:
			if m.err != nil {
				if ctx.Err() != nil {
					return
				}
				_, msg := httpError(m.err)
				if !errors.Is(m.err, io.EOF) {
					s.log.Warn(what+" stream ended", "err", m.err)
				} else {
					msg = "the " + what + " stream ended"
				}
				b, _ := json.Marshal(map[string]string{"error": msg})
				fmt.Fprintf(w, "event: failure\ndata: %s\n\n", b)
				_ = rc.Flush()
				return
			}
			id, msg := encode(m.resp)
			b, err := marshalOpts.Marshal(msg)
			if err != nil {
				s.log.Warn(what+" message not encodable", "err", err, "id", id)
				continue
			}
			fmt.Fprintf(w, "id: %s\ndata: %s\n\n", id, b)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// marshalOpts is the JSON shape of every API answer: proto field names, enums as names.
var marshalOpts = protojson.MarshalOptions{UseProtoNames: true}

func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "the answer could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (s *server) writeRPCError(w http.ResponseWriter, r *http.Request, what string, err error) {
	code, msg := httpError(err)
	if code >= 500 {
		s.log.Warn("console call failed", "call", what, "path", r.URL.Path, "status", code, "err", err)
	}
	writeError(w, code, msg)
}

// decodeBody reads a JSON body of at most 64 KB into v, or answers with a clear error.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "send JSON with Content-Type: application/json")
			return false
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		// Drain to the end so trailing garbage and oversized bodies are caught too.
		if _, derr := io.Copy(io.Discard, dec.Buffered()); derr != nil {
			err = derr
		} else if _, derr := io.Copy(io.Discard, body); derr != nil {
			err = derr
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusBadRequest, "the request body is over 64 KB")
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "the request body is empty: send a JSON object")
	default:
		writeError(w, http.StatusBadRequest, "the request body is not valid JSON for this route: "+err.Error())
	}
	return false
}

func emailParam(r *http.Request, name string) (string, error) {
	return checkEmail(name, r.URL.Query().Get(name))
}

// checkEmail accepts what could be a directory email; the directory says whether it is one.
func checkEmail(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("say who you are: %s is required (an email of the directory, e.g. dana.reyes@acme.example)", field)
	}
	if len(v) > 254 || !strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n<>\"") {
		return "", fmt.Errorf("%s must be an email address, e.g. dana.reyes@acme.example", field)
	}
	return strings.ToLower(v), nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s is true or false", name)
	}
	return b, nil
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "web-" + hex.EncodeToString(b[:])
}
