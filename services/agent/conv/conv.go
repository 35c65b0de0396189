// Package conv holds the IG agent's conversation state and replies: what the agent
// remembers between turns, independent of where it is stored or how it is transported.
package conv

import (
	"time"
)

// SchemaVersion is the shape of State this code reads and writes. A stored state of
// another version is discarded and the conversation starts afresh.
const SchemaVersion = 1

// Caps keep a long conversation's state small.
const (
	MaxHistory   = 20
	MaxProcessed = 32
	MaxToolCalls = 64
	MaxTrails    = 5
	maxText      = 500
)

// Action is what the user wants done.
type Action string

const (
	ActionRequest    Action = "request"
	ActionExtend     Action = "extend"
	ActionRelinquish Action = "relinquish"
	ActionStatus     Action = "status"
	ActionCancel     Action = "cancel"
	// ActionWithdraw takes back a submitted request still waiting for approval.
	ActionWithdraw Action = "withdraw"
)

// PendingKind says what the agent asked and is waiting for.
type PendingKind string

const (
	// PendingConfirm waits for yes/no on a proposed request, extension or relinquish.
	PendingConfirm PendingKind = "confirm"
	// PendingEntitlement waits for a choice among entitlements.
	PendingEntitlement PendingKind = "entitlement"
	// PendingGrant waits for a choice among the person's grants.
	PendingGrant PendingKind = "grant"
	// PendingExtendOffer waits for yes/no on extending access the person already holds.
	PendingExtendOffer PendingKind = "extend_offer"
	// PendingJustification waits for the reason policy wants before a request is proposed.
	PendingJustification PendingKind = "justification"
	// PendingWithdraw asks which of several waiting requests to withdraw (options are request ids).
	PendingWithdraw PendingKind = "withdraw"
)

// Option is a choice offered to the user.
type Option struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Pending is the open question of a conversation.
type Pending struct {
	Kind     PendingKind `json:"kind"`
	Question string      `json:"question"`
	Options  []Option    `json:"options,omitempty"`
}

// Allows reports whether value is one of the options offered.
func (p *Pending) Allows(value string) bool {
	if p == nil {
		return false
	}
	for _, o := range p.Options {
		if o.Value == value {
			return true
		}
	}
	return false
}

// ToolCall records one tool invocation, so a request's reasoning can be audited.
type ToolCall struct {
	Tool   string    `json:"tool"`
	Args   string    `json:"args"`
	Result string    `json:"result,omitempty"`
	Err    string    `json:"err,omitempty"`
	At     time.Time `json:"at"`
}

// Draft is the request being shaped in the conversation.
type Draft struct {
	Action        Action        `json:"action"`
	Beneficiary   string        `json:"beneficiary"`
	EntitlementID string        `json:"entitlement_id,omitempty"`
	Duration      time.Duration `json:"duration,omitempty"`
	DurationAsked time.Duration `json:"duration_asked,omitempty"`
	Justification string        `json:"justification,omitempty"`
	// JustificationGiven is set once the user answered why they need the access; until
	// then Justification is their request, kept only when it states a reason.
	JustificationGiven bool   `json:"justification_given,omitempty"`
	TicketRef          string `json:"ticket_ref,omitempty"`
	Emergency          bool   `json:"emergency,omitempty"`
	ExtendsGrantID     string `json:"extends_grant_id,omitempty"`
	// GrantID is the grant to give up, for a relinquish.
	GrantID string `json:"grant_id,omitempty"`
	// RequestID is the request to withdraw, for a withdrawal.
	RequestID string `json:"request_id,omitempty"`
	// Query is what the user asked for, kept to re-rank when they answer a question.
	Query string `json:"query,omitempty"`
	// Level is the privilege level the stated task implies ("read", "write", "admin").
	Level     string     `json:"level,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// DroppedCalls counts tool calls that gave way to newer ones past the cap.
	DroppedCalls int `json:"dropped_calls,omitempty"`
}

// Trail is the tool-call record of one submitted request.
type Trail struct {
	RequestID string     `json:"request_id"`
	ToolCalls []ToolCall `json:"tool_calls"`
	// DroppedCalls counts calls between the first and the last that the cap dropped.
	DroppedCalls int `json:"dropped_calls,omitempty"`
}

// ReplyKind tells a channel how to render a reply.
type ReplyKind string

const (
	ReplyInfo      ReplyKind = "info"
	ReplyQuestion  ReplyKind = "question"
	ReplyProposal  ReplyKind = "proposal"
	ReplySubmitted ReplyKind = "submitted"
	ReplyError     ReplyKind = "error"
)

// Reply is what the agent says back for one turn.
type Reply struct {
	Kind      ReplyKind `json:"kind"`
	Text      string    `json:"text"`
	Options   []Option  `json:"options,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	// EntitlementID and Duration say what a proposal or submission was about (for
	// evaluation and audit; channels show Text).
	EntitlementID string        `json:"entitlement_id,omitempty"`
	Duration      time.Duration `json:"duration,omitempty"`
}

// Processed remembers the reply given to a turn, so a redelivered turn gets the same
// reply and causes nothing twice.
type Processed struct {
	TurnID string `json:"turn_id"`
	Reply  Reply  `json:"reply"`
}

// Message is one line of the conversation.
type Message struct {
	Role string    `json:"role"` // "user" or "agent"
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// State is everything the agent remembers about one conversation.
type State struct {
	Schema        int    `json:"schema"`
	ID            string `json:"id"`
	Person        string `json:"person"`
	Channel       string `json:"channel"`
	ChannelUserID string `json:"channel_user_id"`
	// Version is the store's compare-and-set version; not serialised in the body.
	Version   int64       `json:"-"`
	Draft     *Draft      `json:"draft,omitempty"`
	Pending   *Pending    `json:"pending,omitempty"`
	History   []Message   `json:"history,omitempty"`
	Processed []Processed `json:"processed,omitempty"`
	Trails    []Trail     `json:"trails,omitempty"`
	// Next is an ask the person made in the same message as the one being handled
	// ("github read and also datadog viewer"); it is taken up when this one ends.
	Next      string    `json:"next,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// New returns the state of a fresh conversation.
func New(id string) *State { return &State{Schema: SchemaVersion, ID: id} }

// Reply returns the reply already given to turnID, if any.
func (s *State) Reply(turnID string) (Reply, bool) {
	for _, p := range s.Processed {
		if p.TurnID == turnID {
			return p.Reply, true
		}
	}
	return Reply{}, false
}

// Remember records the reply to a turn and the exchange in the history, within caps.
func (s *State) Remember(turnID, userText string, r Reply, at time.Time) {
	s.Processed = append(s.Processed, Processed{TurnID: turnID, Reply: r})
	if n := len(s.Processed) - MaxProcessed; n > 0 {
		s.Processed = append([]Processed(nil), s.Processed[n:]...)
	}
	if userText != "" {
		s.History = append(s.History, Message{Role: "user", Text: clip(userText), At: at})
	}
	s.History = append(s.History, Message{Role: "agent", Text: clip(r.Text), At: at})
	if n := len(s.History) - MaxHistory; n > 0 {
		s.History = append([]Message(nil), s.History[n:]...)
	}
	s.UpdatedAt = at
}

// KeptHead is how many of a draft's first tool calls survive the cap: how the request
// began (the search, the person) and how it ended (the calls before submission) are what
// an auditor reads; the middle of a long conversation gives way.
const KeptHead = 16

// Record appends a tool call to the draft's trail. Past the cap, the oldest calls after
// the first KeptHead give way to the newest, and the draft counts what was dropped.
// Calls made while no request is being shaped (a status question, say) belong to no
// request and are not kept.
func (s *State) Record(c ToolCall) {
	if s.Draft == nil {
		return
	}
	c.Args, c.Result, c.Err = clip(c.Args), clip(c.Result), clip(c.Err)
	if len(s.Draft.ToolCalls) >= MaxToolCalls {
		s.Draft.ToolCalls = append(s.Draft.ToolCalls[:KeptHead], s.Draft.ToolCalls[KeptHead+1:]...)
		s.Draft.DroppedCalls++
	}
	s.Draft.ToolCalls = append(s.Draft.ToolCalls, c)
}

// Submitted moves the draft's tool calls into the trail of a submitted request and
// clears the draft.
func (s *State) Submitted(requestID string) {
	if s.Draft != nil {
		s.Trails = append(s.Trails, Trail{RequestID: requestID, ToolCalls: s.Draft.ToolCalls, DroppedCalls: s.Draft.DroppedCalls})
		if n := len(s.Trails) - MaxTrails; n > 0 {
			s.Trails = append([]Trail(nil), s.Trails[n:]...)
		}
	}
	s.Draft, s.Pending = nil, nil
}

// Reset forgets the draft and any open question.
func (s *State) Reset() { s.Draft, s.Pending = nil, nil }

func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
