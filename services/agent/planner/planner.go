// Package planner decides what the IG agent says and does for each turn of a
// conversation. The built-in planner is deterministic and offline; others (an LLM with
// function calling) drive the same tools.
package planner

import (
	"context"
	"time"

	"github.com/agentic-iga/iga/services/agent/conv"
)

// Input is one user turn.
type Input struct {
	TurnID string
	// Person is the directory email of who is speaking.
	Person string
	Text   string
	// Option is the value of an option the user picked, if any.
	Option string
	Now    time.Time
}

// Planner turns a user turn into a reply, updating the conversation state and calling
// tools. It must be safe to call again for the same turn on a fresh copy of the state
// (the store may retry on a write conflict): its only effects are the tools' idempotent
// actions.
type Planner interface {
	Name() string
	Plan(ctx context.Context, st *conv.State, in Input) (conv.Reply, error)
}
