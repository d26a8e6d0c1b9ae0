// Package auth authenticates API requests with bearer tokens (JWT) and decides what their holder may
// do.
//
// A token is verified with a configured key, never with one it names itself: HS256 with a shared
// secret (simple to run: the services and whoever issues tokens share AUTH_HMAC_SECRET), and/or EdDSA
// or RS256 with a public key (the issuer keeps the private key; the services cannot mint tokens). The
// algorithms accepted are exactly those of the keys configured, so a token signed "none" or with an
// HMAC over the public key is refused. exp is required; nbf, iss and aud are checked as configured.
//
// The token's subject is who acts: it becomes the actor in each event's metadata, and for the customer
// role it is also the customer ID whose orders the holder owns. The roles claim holds one or more of
// customer, staff and admin; the strongest counts:
//
//	customer  creates orders for itself and acts on and reads only its own orders and summary
//	staff     does everything on every order and reads every read model
//	admin     staff, plus the audit log, projection status and rebuilds
//
// Authentication can be turned off for local development (AUTH=off): then there is no [Principal] and
// every check passes.
package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

var (
	// ErrUnauthenticated: the request has no valid bearer token (HTTP 401).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the token is valid but its holder may not do this (HTTP 403).
	ErrForbidden = errors.New("forbidden")
)

// Role is what a token's holder is allowed to do. Roles are ordered: each may do what the ones before
// it may.
type Role int

const (
	Customer Role = iota + 1
	Staff
	Admin
)

// roleNames are the roles' names in tokens, which are durable.
var roleNames = map[string]Role{"customer": Customer, "staff": Staff, "admin": Admin}

func (r Role) String() string {
	for name, role := range roleNames {
		if role == r {
			return name
		}
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	if r, ok := roleNames[s]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("unknown role %q: want customer, staff or admin", s)
}

// strongest returns the strongest of the roles named, ignoring names it does not know (a token may
// carry roles for other systems).
func strongest(names []string) (Role, bool) {
	var best Role
	for _, n := range names {
		if r, ok := roleNames[n]; ok {
			best = max(best, r)
		}
	}
	return best, best != 0
}

// Principal is the verified holder of a token.
type Principal struct {
	// Subject is the token's sub: the actor, and for a customer its customer ID.
	Subject string
	Role    Role
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal, or nil when authentication is off.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Require returns ErrForbidden unless p has at least role. A nil p (authentication off) has every role.
func (p *Principal) Require(role Role) error {
	if p == nil || p.Role >= role {
		return nil
	}
	return fmt.Errorf("%w: needs the %s role", ErrForbidden, role)
}

// Owns reports whether p may see and act on what belongs to customerID: staff and admins may on
// everything, a customer only on its own. A nil p (authentication off) may on everything.
func (p *Principal) Owns(customerID string) bool {
	return p == nil || p.Role >= Staff || p.Subject == customerID
}

// CheckOwner returns ErrForbidden unless p owns what belongs to customerID (see Owns).
func (p *Principal) CheckOwner(customerID string) error {
	if p.Owns(customerID) {
		return nil
	}
	return fmt.Errorf("%w: this belongs to another customer", ErrForbidden)
}

// OwnCustomer returns the customer ID that p's reads must be limited to: its subject for a customer,
// "" (no limit) for staff, admins and a nil p.
func (p *Principal) OwnCustomer() string {
	if p == nil || p.Role >= Staff {
		return ""
	}
	return p.Subject
}

// Roles lists the names of every role, weakest first.
func Roles() []string {
	names := make([]string, 0, len(roleNames))
	for name := range roleNames {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return int(roleNames[a]) - int(roleNames[b]) })
	return names
}
