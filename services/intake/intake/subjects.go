package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Subject prefixes of the chat loop.
const (
	intakePrefix = "iga.intake."
	turnPrefix   = "iga.turn."
	replyPrefix  = "iga.reply."
)

// safeToken is what passes into a subject unchanged: one NATS token, no wildcards, no
// dots, no spaces, printable ASCII only, short enough to keep subjects small.
var safeToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// channelName is what a channel may be called ("slack", "web", "cli", "nats").
var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Token makes s usable as one subject token: a token-safe s is returned unchanged, any
// other (dots, spaces, wildcards, non-ASCII, too long) becomes "x" and 32 hex digits of
// its SHA-256, so the same s always maps to the same token.
func Token(s string) string {
	if safeToken.MatchString(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "x" + hex.EncodeToString(sum[:16])
}

// IntakeSubject is where a channel publishes a user's ChatMessage.
func IntakeSubject(channel string) string { return intakePrefix + Token(channel) }

// TurnSubject is where intake publishes the turns of a conversation for the agent.
func TurnSubject(conversationID string) string { return turnPrefix + Token(conversationID) }

// ReplySubject is where anyone answering a conversation publishes a Reply, and where
// the channel (and IntakeService.Chat) listens for it. Use it rather than concatenating:
// it keeps a conversation id with dots or spaces to one token.
func ReplySubject(channel, conversationID string) string {
	return replyPrefix + Token(channel) + "." + Token(conversationID)
}

// ConversationID is the id intake gives a message's conversation. A token-safe id from
// the channel is kept as it is. A channel that sends none gets one derived from the
// channel and the user ("<channel>-u-" + 24 hex digits of a hash), so all of a user's
// thread-less messages in a channel form one conversation and land on one turn subject
// (the agent keeps them in order). An id that is not token-safe is replaced by its hash
// (see Token), so every service can put the result in a subject as it is.
func ConversationID(channel, channelUserID, given string) string {
	if given != "" {
		return Token(given)
	}
	sum := sha256.Sum256([]byte(channel + "\x00" + channelUserID))
	return channel + "-u-" + hex.EncodeToString(sum[:12])
}

// lastToken is the final token of a subject ("iga.intake.slack" -> "slack").
func lastToken(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}
