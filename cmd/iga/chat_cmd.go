package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func newChatCmd(g *globals) *cobra.Command {
	var as, conversation, pick string
	var timeout time.Duration
	var follow bool
	cmd := &cobra.Command{
		Use:   "chat --as EMAIL [MESSAGE]",
		Short: "Talk to the access agent (one message, or an interactive session without MESSAGE)",
		Long: `Talk to iga's access agent as a person of the directory.

With MESSAGE, sends it and prints the agent's reply. Messages from the same person form one
conversation, so you can answer the agent's question with a second 'iga chat'. Without
MESSAGE, starts an interactive session; answer a question by typing an option's number.
Notices — approved, denied, granted, revoked, reminders — appear as they happen in an
interactive session, and with --follow after a message.

--as is dev-mode identity: it says who you are and is trusted. A production deployment
signs people in through its chat channels (Slack, the web console) instead.`,
		Example: `  iga chat --as dana.reyes@acme.example "I need to look at the payments dashboards for the audit this week"
  iga chat --as dana.reyes@acme.example yes
  iga chat --as sam.patel@acme.example
  iga chat --as sam.patel@acme.example --follow   # only listen for notices`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" {
				return errors.New("say who you are with --as EMAIL (for example --as dana.reyes@acme.example)")
			}
			conn, err := g.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			client := igav1.NewIntakeServiceClient(conn)
			send := func(text, option string) (*igav1.ChatResponse, error) {
				ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
				defer cancel()
				resp, err := client.Chat(ctx, &igav1.ChatRequest{
					Message: &igav1.ChatMessage{Channel: "cli", ChannelUserId: as, ConversationId: conversation,
						MessageId: bus.NewID(), Text: text, OptionValue: option, SentAt: timestamppb.Now()},
					Timeout: durationpb.New(timeout),
				})
				return resp, g.explain(err)
			}
			listen := func(ctx context.Context, out io.Writer) error {
				stream, err := client.Notices(ctx, &igav1.NoticesRequest{Channel: "cli", ChannelUserId: as, ConversationId: conversation})
				if err != nil {
					return g.explain(err)
				}
				if _, err := stream.Header(); err != nil {
					return g.explain(err)
				}
				for {
					n, err := stream.Recv()
					if err != nil {
						if ctx.Err() != nil {
							return nil
						}
						return g.explain(err)
					}
					if g.json {
						_ = printJSON(out, n.GetReply())
						continue
					}
					fmt.Fprintf(out, "\n[%s] ", n.GetReply().GetSentAt().AsTime().Local().Format("15:04:05"))
					printReplies(out, []*igav1.Reply{n.GetReply()})
				}
			}
			if len(args) == 0 && pick == "" && follow {
				fmt.Fprintf(cmd.OutOrStdout(), "Listening for notices to %s; Ctrl-C stops.\n", as)
				return listen(cmd.Context(), cmd.OutOrStdout())
			}
			if len(args) == 1 || pick != "" {
				text := ""
				if len(args) == 1 {
					text = args[0]
				}
				resp, err := send(text, pick)
				if err != nil {
					return err
				}
				if g.json {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				printReplies(cmd.OutOrStdout(), resp.GetReplies())
				if follow {
					return listen(cmd.Context(), cmd.OutOrStdout())
				}
				return nil
			}
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()
			go func() { _ = listen(ctx, cmd.OutOrStdout()) }()
			return interactive(cmd.InOrStdin(), cmd.OutOrStdout(), as, send)
		},
	}
	cmd.Flags().StringVar(&as, "as", os.Getenv("IGA_AS"), "who you are: a directory email (dev-mode identity; env IGA_AS)")
	cmd.Flags().StringVar(&conversation, "conversation", "", "conversation id (default: one conversation per person)")
	cmd.Flags().StringVar(&pick, "pick", "", "answer a question by the value of one of its options")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep listening for notices (approved, granted, revoked) until Ctrl-C")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to wait for the agent's reply")
	return cmd
}

func printReplies(w io.Writer, replies []*igav1.Reply) {
	for _, r := range replies {
		fmt.Fprintf(w, "iga> %s\n", strings.ReplaceAll(r.GetText(), "\n", "\n     "))
		for i, o := range r.GetOptions() {
			fmt.Fprintf(w, "     [%d] %s\n", i+1, o.GetLabel())
		}
	}
}

func interactive(in io.Reader, out io.Writer, as string, send func(text, option string) (*igav1.ChatResponse, error)) error {
	fmt.Fprintf(out, "Chatting with iga as %s. Type what you need; an option's number picks it; Ctrl-D ends.\n", as)
	sc := bufio.NewScanner(in)
	var options []*igav1.ReplyOption
	for {
		fmt.Fprint(out, "you> ")
		if !sc.Scan() {
			fmt.Fprintln(out)
			return sc.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		text, option := line, ""
		if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(options) {
			text, option = options[n-1].GetLabel(), options[n-1].GetValue()
		}
		resp, err := send(text, option)
		if err != nil {
			fmt.Fprintln(out, "error:", err)
			continue
		}
		printReplies(out, resp.GetReplies())
		options = nil
		if rs := resp.GetReplies(); len(rs) > 0 {
			options = rs[len(rs)-1].GetOptions()
		}
	}
}
