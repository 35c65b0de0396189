// Package bus is iga's event bus on NATS JetStream: the streams, consumers and KV buckets
// every service shares, publishing with CloudEvents headers and server-side dedup, and
// consuming with ack-after-effects, bounded redelivery and dead-lettering.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and the subjects they hold.
const (
	StreamIntake    = "IGA_INTAKE"    // iga.intake.<channel>: raw chat messages from channels
	StreamTurns     = "IGA_TURNS"     // iga.turn.<conversation>: resolved turns for the agent
	StreamReplies   = "IGA_REPLIES"   // iga.reply.<channel>.<conversation>: what the agent says back
	StreamEvents    = "IGA_EVENTS"    // iga.evt.>: the event history ITSM/SIEM consume
	StreamCommands  = "IGA_COMMANDS"  // iga.cmd.>: work for the provisioner
	StreamSchedules = "IGA_SCHEDULES" // iga.sched.>: delayed messages and where they fire
)

// KV buckets. Each has one writer service.
const (
	BucketDirectory = "iga_directory" // people, apps, entitlements (written by the loader)
	BucketRequests  = "iga_requests"  // submitted requests (agent)
	BucketDecisions = "iga_decisions" // decisions of record (policy)
	BucketApprovals = "iga_approvals" // approval workflows (approval)
	BucketGrants    = "iga_grants"    // the grants ledger (provisioner)
)

// Topology describes how streams and buckets are created.
type Topology struct {
	// Replicas for every stream and bucket: 1 on one server, 3 in a production cluster.
	Replicas int
	// EventsMaxAge bounds the event history; zero keeps it a year.
	EventsMaxAge time.Duration
}

func (t Topology) replicas() int {
	if t.Replicas < 1 {
		return 1
	}
	return t.Replicas
}

// Streams returns the stream configurations of the topology.
func (t Topology) Streams() []jetstream.StreamConfig {
	eventsAge := t.EventsMaxAge
	if eventsAge == 0 {
		eventsAge = 365 * 24 * time.Hour
	}
	r := t.replicas()
	return []jetstream.StreamConfig{
		{
			Name: StreamIntake, Subjects: []string{"iga.intake.>"},
			Retention: jetstream.WorkQueuePolicy, MaxAge: 24 * time.Hour,
			Duplicates: 2 * time.Minute, Replicas: r, Storage: jetstream.FileStorage,
			Description: "chat messages from channels, before identity mapping",
		},
		{
			Name: StreamTurns, Subjects: []string{"iga.turn.>"},
			Retention: jetstream.WorkQueuePolicy, MaxAge: 24 * time.Hour,
			Duplicates: 2 * time.Minute, Replicas: r, Storage: jetstream.FileStorage,
			Description: "turns for the agent, one subject per conversation",
		},
		{
			Name: StreamReplies, Subjects: []string{"iga.reply.>"},
			Retention: jetstream.LimitsPolicy, MaxAge: 7 * 24 * time.Hour,
			Duplicates: 2 * time.Minute, Replicas: r, Storage: jetstream.FileStorage,
			Description: "replies to chat channels",
		},
		{
			Name: StreamEvents, Subjects: []string{"iga.evt.>"},
			Retention: jetstream.LimitsPolicy, MaxAge: eventsAge,
			Duplicates: 2 * time.Minute, Replicas: r, Storage: jetstream.FileStorage,
			Description: "the event history: requests, decisions, approvals, grants",
		},
		{
			Name: StreamCommands, Subjects: []string{"iga.cmd.>"},
			Retention: jetstream.WorkQueuePolicy, MaxAge: 7 * 24 * time.Hour,
			Duplicates: 2 * time.Minute, Replicas: r, Storage: jetstream.FileStorage,
			Description: "provisioning commands",
		},
		{
			Name: StreamSchedules, Subjects: []string{"iga.sched.>"},
			Retention: jetstream.LimitsPolicy, MaxMsgsPerSubject: 1,
			Duplicates: 2 * time.Minute, Replicas: r, Storage: jetstream.FileStorage,
			AllowMsgSchedules: true,
			Description:       "delayed messages (iga.sched.<kind>.<id>) and their fires (iga.sched.fire.>)",
		},
	}
}

// Buckets returns the KV bucket configurations of the topology.
func (t Topology) Buckets() []jetstream.KeyValueConfig {
	r := t.replicas()
	kv := func(name, desc string, history uint8) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{Bucket: name, Description: desc, History: history,
			Replicas: r, Storage: jetstream.FileStorage}
	}
	return []jetstream.KeyValueConfig{
		kv(BucketDirectory, "people, apps and entitlements", 1),
		kv(BucketRequests, "submitted access requests", 1),
		kv(BucketDecisions, "policy decisions of record", 1),
		kv(BucketApprovals, "approval workflows", 5),
		kv(BucketGrants, "the grants ledger", 10),
	}
}

// Ensure creates or updates every stream and bucket. Safe to run from every replica of
// every service at start-up.
func (b *Bus) Ensure(ctx context.Context, t Topology) error {
	for _, sc := range t.Streams() {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	for _, kc := range t.Buckets() {
		if _, err := b.js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
			return fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
		}
	}
	return nil
}

// KV opens a bucket created by Ensure.
func (b *Bus) KV(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := b.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s does not exist; start a service that runs bus.Ensure first: %w", bucket, err)
	}
	return kv, err
}
