package provisioner

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// CheckAccess reports whether the person holds the entitlement now, from the ledger view.
func (s *Service) CheckAccess(_ context.Context, req *igav1.CheckAccessRequest) (*igav1.CheckAccessResponse, error) {
	email, ent := strings.TrimSpace(req.GetPersonEmail()), strings.TrimSpace(req.GetEntitlementId())
	if email == "" || ent == "" {
		return nil, status.Error(codes.InvalidArgument, "person_email and entitlement_id are required")
	}
	g, ok := s.ledger.activeGrant(email, ent, s.now())
	if !ok {
		return &igav1.CheckAccessResponse{}, nil
	}
	return &igav1.CheckAccessResponse{HasAccess: true, Grant: g}, nil
}

// ListGrants lists grants, newest first: active and pending ones, or all with include_inactive.
func (s *Service) ListGrants(_ context.Context, req *igav1.ListGrantsRequest) (*igav1.ListGrantsResponse, error) {
	now := s.now()
	grants := s.ledger.list(req.GetPersonEmail(), func(g *igav1.Grant) bool {
		if req.GetIncludeInactive() {
			return true
		}
		return g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_PENDING || isActive(g, now)
	})
	return &igav1.ListGrantsResponse{Grants: grants}, nil
}
