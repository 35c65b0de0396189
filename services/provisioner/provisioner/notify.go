package provisioner

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// notify sends a NOTICE to the conversation the request came from. A request without a
// channel or conversation (submitted over an API) gets no chat notice.
func (s *Service) notify(ctx context.Context, m bus.Meta, req *igav1.AccessRequest, replyID, text string) error {
	ch, conv := req.GetChannel(), req.GetConversationId()
	if !subjectToken(ch) || !subjectToken(conv) {
		s.log.Debug("request has no chat conversation to notify", "request_id", req.GetId())
		return nil
	}
	r := &igav1.Reply{ReplyId: replyID, ConversationId: conv, Channel: ch, PersonEmail: req.GetRequesterEmail(),
		Kind: igav1.ReplyKind_REPLY_KIND_NOTICE, Text: text, RequestId: req.GetId(), SentAt: timestamppb.New(s.now())}
	_, err := s.bus.Publish(ctx, "iga.reply."+ch+"."+conv, r, bus.WithID(replyID), bus.WithRequestID(req.GetId()), bus.CausedBy(m))
	return err
}

// subjectToken reports whether s can be one token of a NATS subject.
func subjectToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

// accessName names an entitlement for people: "Grafana payments-viewer".
func (s *Service) accessName(entitlementID string) string {
	return s.dir.Snapshot().AccessName(entitlementID)
}

// when formats a time for the person, in their time zone when the directory knows it.
func (s *Service) when(t time.Time, email string) string {
	return s.dir.Snapshot().LocalTime(email, t)
}
