package auth

import (
	"context"
	"fmt"
)

// Role is what a principal may do. Roles are ordered: each can do everything
// the ones below it can.
type Role int

// Roles.
const (
	// RoleViewer reads incidents, signals, entities, rules and the outbox.
	RoleViewer Role = iota + 1
	// RoleAnalyst also gives verdicts, changes incident status and assignee.
	RoleAnalyst
	// RoleAdmin also manages users, tokens and reads the audit log.
	RoleAdmin
)

// String returns the role's name as configuration and the API spell it.
func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleAnalyst:
		return "analyst"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "analyst":
		return RoleAnalyst, nil
	case "admin":
		return RoleAdmin, nil
	}
	return 0, fmt.Errorf("unknown role %q (want viewer, analyst or admin)", s)
}

// Allows reports whether r includes want.
func (r Role) Allows(want Role) bool { return r >= want }

// Principal is who made a request: a user signed in to the console, or an API
// token. Name is what the audit log records as the actor ("alice",
// "token:fluent-bit").
type Principal struct {
	Name string
	Role Role
	// Method is how the principal authenticated: "session" or "token".
	Method string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
