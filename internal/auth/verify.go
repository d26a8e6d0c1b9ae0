package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretBytes is the shortest HS256 secret accepted: RFC 7518 asks for a key as long as the hash.
const MinSecretBytes = 32

// MaxSubjectLength bounds a token's subject, which lands in every event's metadata.
const MaxSubjectLength = 128

// Config says how tokens are verified. At least one key must be set.
type Config struct {
	// Secret verifies HS256 tokens (at least MinSecretBytes).
	Secret []byte
	// PublicKey verifies EdDSA (ed25519.PublicKey) or RS256 (*rsa.PublicKey) tokens.
	PublicKey crypto.PublicKey
	// Issuer and Audience, when set, must match the token's iss and be among its aud.
	Issuer, Audience string
	// Leeway is the clock skew allowed on exp and nbf (default 30 s).
	Leeway time.Duration
}

// Validate reports a configuration that could verify nothing, or verify too weakly.
func (c Config) Validate() error {
	var errs []error
	if c.Secret == nil && c.PublicKey == nil {
		errs = append(errs, errors.New("no key: set an HMAC secret or a public key"))
	}
	if c.Secret != nil && len(c.Secret) < MinSecretBytes {
		errs = append(errs, fmt.Errorf("the HMAC secret must be at least %d bytes", MinSecretBytes))
	}
	switch k := c.PublicKey.(type) {
	case nil, ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.Size() < 256 {
			errs = append(errs, errors.New("the RSA public key must have at least 2048 bits"))
		}
	default:
		errs = append(errs, fmt.Errorf("unsupported public key %T: want Ed25519 or RSA", k))
	}
	return errors.Join(errs...)
}

// claims are the token's claims this package reads.
type claims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles"`
}

// Verifier checks bearer tokens. It is safe for concurrent use.
//
// It remembers the tokens it has accepted, for up to verifiedTTL and never past their expiry: a
// client sends the same token with every request, and checking it again (decode, JSON, signature)
// was the larger part of a cached read's cost. A remembered token is the same bytes that passed
// every check, so it passes them again until it expires; the key and the rules are fixed for the
// process's life. Refused tokens are not remembered.
type Verifier struct {
	parser *jwt.Parser
	keys   map[string]any // by alg
	leeway time.Duration
	now    func() time.Time

	mu       sync.RWMutex
	verified map[string]verifiedToken // by the token itself
}

// verifiedToken is an accepted token's holder and how long it may be taken without a new check.
type verifiedToken struct {
	principal Principal
	until     time.Time // the earlier of its expiry (with the leeway) and verifiedTTL after its check
}

const (
	verifiedTTL = time.Minute
	maxVerified = 10_000 // tokens remembered at once; past that, one is forgotten for each new one
)

// NewVerifier returns a verifier for cfg, or cfg's problems.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keys := map[string]any{}
	if cfg.Secret != nil {
		keys[jwt.SigningMethodHS256.Alg()] = cfg.Secret
	}
	switch k := cfg.PublicKey.(type) {
	case ed25519.PublicKey:
		keys[jwt.SigningMethodEdDSA.Alg()] = k
	case *rsa.PublicKey:
		keys[jwt.SigningMethodRS256.Alg()] = k
	}
	algs := make([]string, 0, len(keys))
	for alg := range keys {
		algs = append(algs, alg)
	}
	leeway := cfg.Leeway
	if leeway <= 0 {
		leeway = 30 * time.Second
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &Verifier{keys: keys, leeway: leeway, now: time.Now, verified: map[string]verifiedToken{}}
	opts = append(opts, jwt.WithTimeFunc(func() time.Time { return v.now() }))
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks token and returns its holder. Every failure wraps ErrUnauthenticated and says why in
// words fit for a WWW-Authenticate error_description.
func (v *Verifier) Verify(token string) (*Principal, error) {
	now := v.now()
	v.mu.RLock()
	known, ok := v.verified[token]
	v.mu.RUnlock()
	if ok && now.Before(known.until) {
		p := known.principal
		return &p, nil
	}
	p, exp, err := v.verify(token)
	if err != nil {
		return nil, err
	}
	until := now.Add(verifiedTTL)
	if e := exp.Add(v.leeway); e.Before(until) {
		until = e
	}
	v.remember(token, *p, until)
	return p, nil
}

func (v *Verifier) remember(token string, p Principal, until time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.verified) >= maxVerified {
		for t := range v.verified {
			delete(v.verified, t)
			break
		}
	}
	v.verified[token] = verifiedToken{principal: p, until: until}
}

// verify checks token in full and returns its holder and expiry.
func (v *Verifier) verify(token string) (*Principal, time.Time, error) {
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods has refused other algorithms already; the key is chosen by ours.
		return v.keys[t.Method.Alg()], nil
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %s", ErrUnauthenticated, describe(err))
	}
	if !validSubject(c.Subject) {
		return nil, time.Time{}, fmt.Errorf("%w: the token's sub must be 1 to %d printable ASCII characters", ErrUnauthenticated, MaxSubjectLength)
	}
	role, ok := strongest(c.Roles)
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w: the token has none of the roles customer, staff, admin", ErrUnauthenticated)
	}
	// WithExpirationRequired makes ExpiresAt present.
	return &Principal{Subject: c.Subject, Role: role}, c.ExpiresAt.Time, nil
}

// describe says why jwt refused a token without repeating the token.
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim (exp)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer is not accepted"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token is not for this audience"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signature or algorithm is not accepted"
	default:
		return "the token is malformed"
	}
}

// validSubject: subjects are stored as actors and compared with customer IDs, so keep them plain.
func validSubject(s string) bool {
	if len(s) < 1 || len(s) > MaxSubjectLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// SignHS256 issues an HS256 token for subject with role, valid for ttl from now: for development
// (cmd/devtoken) and tests. Production tokens come from an identity provider.
func SignHS256(secret []byte, subject string, role Role, issuer, audience string, now time.Time, ttl time.Duration) (string, error) {
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			Issuer:    issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles: []string{role.String()},
	}
	if audience != "" {
		c.Audience = jwt.ClaimStrings{audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}
