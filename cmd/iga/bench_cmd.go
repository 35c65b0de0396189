package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// benchResult is what `iga bench` measures; printed as text or JSON.
type benchResult struct {
	Requests          int     `json:"requests"`
	Concurrency       int     `json:"concurrency"`
	Failed            int     `json:"failed"`
	RequestsPerSec    float64 `json:"requests_per_sec"`
	LoopP50Ms         float64 `json:"loop_p50_ms"`
	LoopP99Ms         float64 `json:"loop_p99_ms"`
	EventsPerRequest  float64 `json:"events_per_request"`
	MsgsPerRequest    float64 `json:"bus_messages_per_request"`
	AvgMsgBytes       int     `json:"avg_message_bytes"`
	RawMsgsPerSec     float64 `json:"raw_msgs_per_sec"`
	RawP50Ms          float64 `json:"raw_p50_ms"`
	RawP99Ms          float64 `json:"raw_p99_ms"`
	RatioMsgsToRaw    float64 `json:"ratio_loop_msgs_to_raw"`
	RatioRequestToRaw float64 `json:"ratio_requests_to_raw"`
}

func newBenchCmd(g *globals) *cobra.Command {
	var n, conc int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark the whole loop in one process against raw JetStream measured in the same run",
		Long: `Starts the whole stack in this process (embedded NATS with fsync always, Redis from
REDIS_URL or embedded, a SCIM target) on a synthetic directory where policy auto-approves,
drives N requests through chat → agent → policy → approval → provisioner (SCIM) → grant, and
then measures raw JetStream durable publish→consume at the loop's average message size on
the same server. Prints requests/s, bus messages and events per request, end-to-end
latency p50/p99, and the ratio to the raw limit.`,
		Example: "  iga bench --requests 500\n  make bench N=2000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rdb *redis.Client
			if url := os.Getenv("REDIS_URL"); url != "" {
				opts, err := redis.ParseURL(url)
				if err != nil {
					return fmt.Errorf("REDIS_URL: %w", err)
				}
				rdb = redis.NewClient(opts)
				defer rdb.Close()
			}
			res, err := runBench(cmd.Context(), n, conc, rdb, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if g.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			printBench(cmd.OutOrStdout(), res)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "requests", 500, "requests to drive through the loop")
	cmd.Flags().IntVar(&conc, "concurrency", 16, "requests in flight at once")
	return cmd
}

func printBench(w io.Writer, r benchResult) {
	fmt.Fprintf(w, "iga bench: %d auto-approved requests through the whole loop, %d in flight (chat → agent → policy → approval → provisioner/SCIM → grant.active)\n", r.Requests, r.Concurrency)
	fmt.Fprintf(w, "  loop            %8.1f requests/s   p50 %7.2f ms   p99 %7.2f ms   failed %d\n", r.RequestsPerSec, r.LoopP50Ms, r.LoopP99Ms, r.Failed)
	fmt.Fprintf(w, "  per request     %8.1f bus messages (%.1f events), %d B average\n", r.MsgsPerRequest, r.EventsPerRequest, r.AvgMsgBytes)
	fmt.Fprintf(w, "  raw JetStream   %8.0f msgs/s durable publish→consume at %d B   p50 %7.2f ms   p99 %7.2f ms\n", r.RawMsgsPerSec, r.AvgMsgBytes, r.RawP50Ms, r.RawP99Ms)
	fmt.Fprintf(w, "  ratio           loop bus messages/s ÷ raw msgs/s = %.3f   (requests/s ÷ raw msgs/s = %.4f)\n", r.RatioMsgsToRaw, r.RatioRequestToRaw)
}

// writeBenchData writes a directory of n people who may each get one auto-approved entitlement.
func writeBenchData(dir string, n int) error {
	var people strings.Builder
	people.WriteString("people:\n  - {email: owner@bench.example, name: Bench Owner, department: IT, title: Owner}\n")
	for i := range n {
		fmt.Fprintf(&people, "  - {email: user%05d@bench.example, name: User %d, department: IT, title: Engineer, manager: owner@bench.example}\n", i, i)
	}
	catalog := `apps:
  - id: benchapp
    name: Benchapp
    description: The benchmark application
    owner: owner@bench.example
    provisioning: scim
    entitlements:
      - name: viewer
        description: Read the benchmark dashboards
        aliases: [viewer, read]
        level: read
        risk: low
        max_duration: 1d
        default_duration: 1h
`
	policy := `version: 1
rules:
  - id: bench-allow
    match: {apps: [benchapp]}
    effect: allow
    max_duration: 1d
    reason: Everyone may read the benchmark dashboards.
`
	for name, body := range map[string]string{"people.yaml": people.String(), "catalog.yaml": catalog, "policy.yaml": policy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func runBench(ctx context.Context, n, conc int, rdb *redis.Client, progress io.Writer) (benchResult, error) {
	res := benchResult{Requests: n, Concurrency: conc}
	if n < 1 || conc < 1 {
		return res, errors.New("--requests and --concurrency must be at least 1")
	}
	tmp, err := os.MkdirTemp("", "iga-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	if err := writeBenchData(tmp, n); err != nil {
		return res, err
	}
	st, err := startDev(ctx, devConfig{Host: "127.0.0.1", DataDir: filepath.Join(tmp, "data"), SCIMToken: "bench",
		DemoDir: tmp, LogLevel: "error", LogFormat: "text", Redis: rdb}, io.Discard)
	if err != nil {
		return res, err
	}
	defer st.Close()
	nc, err := nats.Connect(st.NATSURL)
	if err != nil {
		return res, err
	}
	defer nc.Close()

	// Completion: grant.active events, matched to the person whose request it was.
	var mu sync.Mutex
	done := map[string]chan struct{}{}
	for i := range n {
		done[fmt.Sprintf("user%05d@bench.example", i)] = make(chan struct{})
	}
	sub, err := nc.Subscribe("iga.evt.grant.active", func(m *nats.Msg) {
		g := &igav1.GrantChanged{}
		if bus.Decode(m.Header, m.Data, g) != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if ch, ok := done[g.GetGrant().GetPersonEmail()]; ok {
			close(ch)
			delete(done, g.GetGrant().GetPersonEmail())
		}
	})
	if err != nil {
		return res, err
	}
	defer sub.Unsubscribe()

	conn, err := (&globals{addr: st.GRPCAddr}).dial()
	if err != nil {
		return res, err
	}
	defer conn.Close()
	intake := igav1.NewIntakeServiceClient(conn)
	say := func(as, text, option string) (*igav1.Reply, error) {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		resp, err := intake.Chat(cctx, &igav1.ChatRequest{Message: &igav1.ChatMessage{Channel: "bench", ChannelUserId: as,
			MessageId: bus.NewID(), Text: text, OptionValue: option}, Timeout: durationpb.New(50 * time.Second)})
		if err != nil {
			return nil, err
		}
		if len(resp.GetReplies()) == 0 {
			return nil, errors.New("no reply")
		}
		return resp.GetReplies()[len(resp.GetReplies())-1], nil
	}
	one := func(as string, ch chan struct{}) error {
		r, err := say(as, "I need benchapp viewer for 1 hour", "")
		for step := 0; err == nil && r.GetKind() != igav1.ReplyKind_REPLY_KIND_SUBMITTED; step++ {
			opt := pickOption(r.GetOptions())
			if step > 3 || opt == nil {
				return fmt.Errorf("the agent did not submit: %q", r.GetText())
			}
			r, err = say(as, opt.GetLabel(), opt.GetValue())
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-time.After(60 * time.Second):
			return errors.New("no grant within 60s")
		}
	}

	fmt.Fprintf(progress, "driving %d requests, %d in flight…\n", n, conc)
	lat := make([]time.Duration, 0, n)
	var failed []error
	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				as := fmt.Sprintf("user%05d@bench.example", i)
				mu.Lock()
				ch := done[as]
				mu.Unlock()
				t0 := time.Now()
				err := one(as, ch)
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Errorf("%s: %w", as, err))
				} else {
					lat = append(lat, time.Since(t0))
				}
				if k := len(lat) + len(failed); k%max(1, n/10) == 0 {
					fmt.Fprintf(progress, "  %d/%d\n", k, n)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	res.Failed = len(failed)
	if len(failed) > 0 {
		fmt.Fprintf(progress, "%d requests failed; first: %v\n", len(failed), failed[0])
	}
	if len(lat) == 0 {
		return res, errors.New("no request completed")
	}
	res.RequestsPerSec = float64(len(lat)) / elapsed.Seconds()
	res.LoopP50Ms, res.LoopP99Ms = percentileMs(lat, 0.50), percentileMs(lat, 0.99)

	// What the loop put on the bus.
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	var msgs, bytes uint64
	for _, name := range []string{bus.StreamIntake, bus.StreamTurns, bus.StreamReplies, bus.StreamEvents, bus.StreamCommands, bus.StreamSchedules} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return res, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return res, err
		}
		msgs += info.State.LastSeq
		if info.State.Msgs > 0 {
			bytes += info.State.Bytes / info.State.Msgs * info.State.LastSeq
		}
		if name == bus.StreamEvents {
			res.EventsPerRequest = float64(info.State.LastSeq) / float64(n)
		}
	}
	res.MsgsPerRequest = float64(msgs) / float64(n)
	res.AvgMsgBytes = int(bytes / max(msgs, 1))

	fmt.Fprintf(progress, "measuring raw JetStream durable publish→consume at %d B…\n", res.AvgMsgBytes)
	rawN := max(5000, int(msgs))
	rawRate, rawLat, err := rawJetStream(ctx, js, rawN, res.AvgMsgBytes)
	if err != nil {
		return res, fmt.Errorf("raw JetStream: %w", err)
	}
	res.RawMsgsPerSec = rawRate
	res.RawP50Ms, res.RawP99Ms = percentileMs(rawLat, 0.50), percentileMs(rawLat, 0.99)
	res.RatioMsgsToRaw = res.RequestsPerSec * res.MsgsPerRequest / rawRate
	res.RatioRequestToRaw = res.RequestsPerSec / rawRate
	return res, nil
}

// rawJetStream publishes n messages of size bytes to a file-backed stream on the same
// server and consumes them with a durable pull consumer acking each, as iga's consumers
// do: the ceiling any loop on this server can reach.
func rawJetStream(ctx context.Context, js jetstream.JetStream, n, size int) (float64, []time.Duration, error) {
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH_RAW", Subjects: []string{"bench.raw"}, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), "BENCH_RAW") }()
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return 0, nil, err
	}
	lat := make([]time.Duration, 0, n)
	got := make(chan struct{})
	var mu sync.Mutex
	cc, err := cons.Consume(func(m jetstream.Msg) {
		sent, _ := time.Parse(time.RFC3339Nano, m.Headers().Get("sent"))
		_ = m.Ack()
		mu.Lock()
		lat = append(lat, time.Since(sent))
		if len(lat) == n {
			close(got)
		}
		mu.Unlock()
	})
	if err != nil {
		return 0, nil, err
	}
	defer cc.Stop()
	body := make([]byte, max(size, 1))
	start := time.Now()
	for i := 0; i < n; i++ {
		m := &nats.Msg{Subject: "bench.raw", Header: nats.Header{"sent": []string{time.Now().Format(time.RFC3339Nano)}}, Data: body}
		if _, err := js.PublishMsgAsync(m); err != nil {
			return 0, nil, err
		}
		if i%256 == 255 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				return 0, nil, errors.New("publish acks stalled")
			}
		}
	}
	select {
	case <-got:
	case <-time.After(120 * time.Second):
		return 0, nil, errors.New("consumer stalled")
	}
	return float64(n) / time.Since(start).Seconds(), lat, nil
}

func percentileMs(d []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return float64(s[i].Microseconds()) / 1000
}

// pickOption confirms a proposal, or takes the least privileged choice of a question.
func pickOption(opts []*igav1.ReplyOption) *igav1.ReplyOption {
	for _, pref := range []string{"yes", "confirm", "submit", "viewer", "read"} {
		for _, o := range opts {
			if strings.Contains(strings.ToLower(o.GetValue()+" "+o.GetLabel()), pref) {
				return o
			}
		}
	}
	if len(opts) > 0 {
		return opts[0]
	}
	return nil
}
