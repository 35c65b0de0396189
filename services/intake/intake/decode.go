package intake

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// decodeChatMessage decodes a channel message. The protobuf and JSON decoders refuse
// strings that are not valid UTF-8; such a message is still well-formed enough to answer,
// so its fields are recovered as they are and the UTF-8 check turns it into an ERROR
// reply. Anything else that does not decode is garbage.
func decodeChatMessage(h nats.Header, data []byte) (*igav1.ChatMessage, error) {
	msg := &igav1.ChatMessage{}
	err := bus.Decode(h, data, msg)
	if err == nil {
		return msg, nil
	}
	var salvaged *igav1.ChatMessage
	if strings.HasPrefix(h.Get(bus.HeaderContentType), bus.ContentTypeJSON) {
		salvaged = salvageJSON(data)
	} else {
		salvaged = salvageProto(data)
	}
	if salvaged == nil || (utf8.ValidString(salvaged.GetText()) && utf8.ValidString(salvaged.GetOptionValue()) && utf8.ValidString(salvaged.GetChannelUserId())) {
		return nil, err
	}
	return salvaged, nil
}

// salvageProto reads ChatMessage's string fields from well-formed wire data without
// validating UTF-8; nil when the data is not well-formed.
func salvageProto(data []byte) *igav1.ChatMessage {
	msg := &igav1.ChatMessage{}
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return nil
		}
		data = data[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return nil
			}
			data = data[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(data)
		if n < 0 {
			return nil
		}
		data = data[n:]
		switch num {
		case 1:
			msg.Channel = string(v)
		case 2:
			msg.ChannelUserId = string(v)
		case 3:
			msg.ConversationId = string(v)
		case 4:
			msg.MessageId = string(v)
		case 5:
			msg.Text = string(v)
		case 6:
			msg.OptionValue = string(v)
		}
	}
	return msg
}

// salvageJSON reads a JSON ChatMessage whose bytes are not all valid UTF-8. Go's JSON
// decoder replaces bad bytes with U+FFFD, so the text is marked invalid explicitly.
func salvageJSON(data []byte) *igav1.ChatMessage {
	if utf8.Valid(data) {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil
	}
	str := func(names ...string) string {
		for _, n := range names {
			var s string
			if v, ok := raw[n]; ok && json.Unmarshal(v, &s) == nil {
				return s
			}
		}
		return ""
	}
	msg := &igav1.ChatMessage{
		Channel:        str("channel"),
		ChannelUserId:  str("channelUserId", "channel_user_id"),
		ConversationId: str("conversationId", "conversation_id"),
		MessageId:      str("messageId", "message_id"),
		Text:           "\xff", // the original text is not valid UTF-8
	}
	return msg
}
