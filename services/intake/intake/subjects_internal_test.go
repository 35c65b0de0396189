package intake

import (
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	for in, keep := range map[string]bool{
		"c1": true, "slack-D0DANA": true, "cli-u-0a1b": true, "A_b-9": true,
		"": false, "a.b": false, "a b": false, "a*": false, "a>": false, "café": false, strings.Repeat("a", 129): false,
	} {
		got := Token(in)
		if keep && got != in {
			t.Errorf("Token(%q) = %q, want it unchanged", in, got)
		}
		if !keep && (got == in || !safeToken.MatchString(got) || got != Token(in)) {
			t.Errorf("Token(%q) = %q, want a stable safe token", in, got)
		}
	}
	if Token("a.b") == Token("a b") {
		t.Error("different ids share a token")
	}
}

func TestSubjects(t *testing.T) {
	if got := ReplySubject("slack", "thread 1.2"); got != "iga.reply.slack."+Token("thread 1.2") || strings.Count(got, ".") != 3 {
		t.Errorf("ReplySubject = %q", got)
	}
	if got := TurnSubject("c-1"); got != "iga.turn.c-1" {
		t.Errorf("TurnSubject = %q", got)
	}
	if got := IntakeSubject("web"); got != "iga.intake.web" {
		t.Errorf("IntakeSubject = %q", got)
	}
}

func TestConversationID(t *testing.T) {
	a, b := ConversationID("slack", "U0DANA", ""), ConversationID("slack", "U0DANA", "")
	if a != b || !strings.HasPrefix(a, "slack-u-") || !safeToken.MatchString(a) {
		t.Errorf("derived ids %q %q: want one stable token-safe id per channel user", a, b)
	}
	if ConversationID("web", "U0DANA", "") == a || ConversationID("slack", "U0SAM", "") == a {
		t.Error("different channel users share a conversation")
	}
	if got := ConversationID("slack", "U0DANA", "c-42"); got != "c-42" {
		t.Errorf("given id changed to %q", got)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int]string{10: "10 bytes", 4096: "4 KB", 1536: "1.5 KB", 100 << 10: "100 KB", 100<<10 + 7: "100 KB", 3 << 20: "3.0 MB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSlackConversationIDRoundTrip(t *testing.T) {
	for _, tc := range []struct{ channel, thread string }{{"D0DANA", ""}, {"C0FIN", "1700000000.000300"}} {
		id := SlackConversationID(tc.channel, tc.thread)
		if !safeToken.MatchString(id) {
			t.Errorf("%q is not token-safe", id)
		}
		ch, th, ok := parseSlackConversationID(id)
		if !ok || ch != tc.channel || th != tc.thread {
			t.Errorf("parse(%q) = %q %q %v", id, ch, th, ok)
		}
	}
	if _, _, ok := parseSlackConversationID("cli-u-abc"); ok {
		t.Error("a non-Slack conversation parsed as Slack")
	}
}
