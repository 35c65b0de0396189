package connector

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentic-iga/iga/pkg/scim"
)

// SCIM grants an entitlement as membership of its group at a SCIM 2.0 target: the user is
// found by userName (the person's email) and created when missing, the group is found by
// displayName (the entitlement's SCIM group) and created when missing.
type SCIM struct {
	client *scim.Client
}

// NewSCIM returns a connector using client.
func NewSCIM(client *scim.Client) *SCIM { return &SCIM{client: client} }

// Grant adds the person to the entitlement's group and returns the SCIM user id.
func (s *SCIM) Grant(ctx context.Context, p Person, e Entitlement) (string, error) {
	if e.SCIMGroup == "" {
		return "", Permanent(fmt.Errorf("entitlement %s has no SCIM group", e.ID))
	}
	user, err := s.ensureUser(ctx, p)
	if err != nil {
		return "", classify(err)
	}
	group, err := s.ensureGroup(ctx, e.SCIMGroup)
	if err != nil {
		return "", classify(err)
	}
	if err := s.client.AddMember(ctx, group.ID, user.ID); err != nil {
		return "", classify(fmt.Errorf("add %s to %s: %w", p.Email, e.SCIMGroup, err))
	}
	return user.ID, nil
}

// Revoke removes the person from the group; a missing user or group means nothing to remove.
func (s *SCIM) Revoke(ctx context.Context, p Person, e Entitlement) error {
	user, group, err := s.lookup(ctx, p, e)
	if err != nil || user == nil || group == nil {
		return classify(err)
	}
	if err := s.client.RemoveMember(ctx, group.ID, user.ID); err != nil {
		return classify(fmt.Errorf("remove %s from %s: %w", p.Email, e.SCIMGroup, err))
	}
	return nil
}

// Verify reads the group back.
func (s *SCIM) Verify(ctx context.Context, p Person, e Entitlement) (bool, error) {
	user, group, err := s.lookup(ctx, p, e)
	if err != nil || user == nil || group == nil {
		return false, classify(err)
	}
	ok, err := s.client.IsMember(ctx, group.ID, user.ID)
	if err != nil {
		return false, classify(fmt.Errorf("read back %s: %w", e.SCIMGroup, err))
	}
	return ok, nil
}

// Members returns the userNames of the group's members, for reconciliation; a missing
// group has none.
func (s *SCIM) Members(ctx context.Context, group string) ([]string, error) {
	g, err := s.client.FindGroup(ctx, group)
	if errors.Is(err, scim.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err)
	}
	out := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		name := m.Display
		if name == "" {
			u, err := s.client.GetUser(ctx, m.Value)
			if err != nil {
				return nil, classify(err)
			}
			name = u.UserName
		}
		out = append(out, name)
	}
	return out, nil
}

// lookup finds the user and the group without creating them; nil when missing.
func (s *SCIM) lookup(ctx context.Context, p Person, e Entitlement) (*scim.User, *scim.Group, error) {
	user, err := s.client.FindUser(ctx, p.Email)
	if errors.Is(err, scim.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	group, err := s.client.FindGroup(ctx, e.SCIMGroup)
	if errors.Is(err, scim.ErrNotFound) {
		return user, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return user, group, nil
}

func (s *SCIM) ensureUser(ctx context.Context, p Person) (*scim.User, error) {
	u, err := s.client.FindUser(ctx, p.Email)
	if !errors.Is(err, scim.ErrNotFound) {
		return u, err
	}
	active := true
	u, err = s.client.CreateUser(ctx, scim.User{UserName: p.Email, DisplayName: p.Name, Active: &active,
		Emails: []scim.Email{{Value: p.Email, Type: "work", Primary: true}}})
	if errors.Is(err, scim.ErrConflict) { // created meanwhile by someone else
		return s.client.FindUser(ctx, p.Email)
	}
	return u, err
}

func (s *SCIM) ensureGroup(ctx context.Context, name string) (*scim.Group, error) {
	g, err := s.client.FindGroup(ctx, name)
	if !errors.Is(err, scim.ErrNotFound) {
		return g, err
	}
	g, err = s.client.CreateGroup(ctx, name)
	if errors.Is(err, scim.ErrConflict) {
		return s.client.FindGroup(ctx, name)
	}
	return g, err
}

// classify marks rejections retrying cannot fix; outages, auth and conflicts are retried
// (a fixed token or a finished race succeeds on the next delivery).
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, scim.ErrBadRequest) || errors.Is(err, scim.ErrAmbiguous) {
		return Permanent(err)
	}
	return err
}
