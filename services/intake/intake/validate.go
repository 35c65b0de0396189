package intake

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Why intake refuses a message. Each refusal carries a sentence for the user.
var (
	ErrBadChannel   = errors.New("bad channel")
	ErrNoUser       = errors.New("no channel user")
	ErrEmpty        = errors.New("empty message")
	ErrTooLong      = errors.New("message too long")
	ErrInvalidUTF8  = errors.New("invalid UTF-8")
	ErrUnknownUser  = errors.New("unknown channel user")
	ErrInactiveUser = errors.New("person not active")
)

// Rejection is a message intake will not pass to the agent, with what to tell the user.
type Rejection struct {
	// Reason is one of the Err* sentinels above.
	Reason error
	// Text is the sentence for the user: what went wrong and what to do.
	Text string
}

func (r *Rejection) Error() string { return r.Text }
func (r *Rejection) Unwrap() error { return r.Reason }

func reject(reason error, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Text: fmt.Sprintf(format, args...)}
}

// Example of a well-formed ask, for users who sent nothing useful.
const askExample = `"I need read access to the payments dashboards in Grafana for 2 weeks"`

// check validates a message and resolves its sender. The channel must already be set.
func check(msg *igav1.ChatMessage, maxText int, snap *directory.Snapshot) (*igav1.Person, *Rejection) {
	ch, text, option := msg.GetChannel(), msg.GetText(), msg.GetOptionValue()
	if !channelName.MatchString(ch) {
		return nil, reject(ErrBadChannel, "The channel name %q is not valid; use lower-case letters, digits, '-' or '_' (e.g. slack, web, cli).", printable(ch))
	}
	if !utf8.ValidString(text) || !utf8.ValidString(option) || !utf8.ValidString(msg.GetChannelUserId()) {
		return nil, reject(ErrInvalidUTF8, "Your message contains bytes that are not valid UTF-8 text; please send it again as plain text.")
	}
	if strings.TrimSpace(msg.GetChannelUserId()) == "" {
		return nil, reject(ErrNoUser, "Your message did not say who sent it (channel_user_id is empty), so I can't act on it.")
	}
	if strings.TrimSpace(text) == "" && strings.TrimSpace(option) == "" {
		return nil, reject(ErrEmpty, "Your message was empty — tell me what access you need, e.g. %s.", askExample)
	}
	if n := len(text) + len(option); n > maxText {
		return nil, reject(ErrTooLong, "Your message is too long (%s); keep it under %s.", size(n), size(maxText))
	}
	if snap == nil {
		return nil, reject(ErrUnknownUser, "I don't know who you are in %s yet (the directory is not loaded); try again in a minute.", ch)
	}
	p, ok := snap.PersonByChannel(ch, msg.GetChannelUserId())
	if !ok {
		return nil, reject(ErrUnknownUser, "I don't know who you are: nobody in the directory is linked to your %s account. Ask IT to link it.", ch)
	}
	if st := p.GetStatus(); st != "" && !strings.EqualFold(st, "active") {
		return nil, reject(ErrInactiveUser, "Your directory status is %q, so I can't take access requests from you; contact IT if that is wrong.", st)
	}
	return p, nil
}

// size renders a byte count the way people read it: "512 bytes", "4 KB", "1.5 MB".
func size(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		if n%1024 == 0 || n >= 10*1024 {
			return fmt.Sprintf("%d KB", n/1024)
		}
		return fmt.Sprintf("%.1f KB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}

// printable makes any string safe to quote back to a user.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
