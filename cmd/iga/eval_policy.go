package main

import (
	"context"
	"fmt"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/eval"
	"github.com/agentic-iga/iga/services/agent/tools"
	"github.com/agentic-iga/iga/services/approval/approval"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
)

// enginePolicy answers an evaluated conversation's policy questions the way the running
// services do: the policy engine decides (held access from the case's ledger, the case's
// clock) and the approval service's routing names the approvers.
type enginePolicy struct {
	pol    *engine.Policy
	snap   *directory.Snapshot
	grants tools.Grants
	now    time.Time
}

// demoPolicy loads a policy file for iga eval.
func demoPolicy(path string) (eval.Option, error) {
	pol, err := engine.Load(path)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s (%s)", path, pol.Version)
	return eval.WithPolicy(name, func(snap *directory.Snapshot, grants tools.Grants, now time.Time) eval.Policy {
		return &enginePolicy{pol: pol, snap: snap, grants: grants, now: now}
	}), nil
}

func (p *enginePolicy) Preview(ctx context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
	gs, err := p.grants.ListGrants(ctx, req.GetBeneficiaryEmail())
	if err != nil {
		return nil, err
	}
	held := make([]string, 0, len(gs))
	for _, g := range gs {
		held = append(held, g.GetEntitlementId())
	}
	return policy.Decide(p.pol, p.snap, req, held, nil, p.now)
}

func (p *enginePolicy) Requirements(ctx context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error) {
	dec, err := p.Preview(ctx, req)
	if err != nil {
		return nil, err
	}
	return approval.RequirementsOf(p.snap, req, dec), nil
}
