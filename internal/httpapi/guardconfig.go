package httpapi

import (
	"fmt"
	"strconv"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/envconfig"
)

// GuardSettings are an API's protection settings as read from the environment, shared by the command
// and query APIs:
//
//	AUTH, AUTH_HMAC_SECRET, AUTH_PUBLIC_KEY_FILE, AUTH_ISSUER, AUTH_AUDIENCE   see auth.Settings
//	MAX_IN_FLIGHT   requests served at once before shedding with 503 (default 512)
//	RATE_LIMIT      each client's sustained requests per second, or off (default 100)
//	RATE_BURST      requests a client may send at once (default 2 × RATE_LIMIT)
type GuardSettings struct {
	Auth        auth.Settings
	MaxInFlight int
	RateLimit   int // 0: off
	RateBurst   int
}

// ReadGuardSettings reads the settings through p, which collects malformed ones.
func ReadGuardSettings(p *envconfig.Parser) (GuardSettings, error) {
	s := GuardSettings{
		Auth: auth.Settings{
			Mode:          p.String("AUTH", "on"),
			HMACSecret:    p.String("AUTH_HMAC_SECRET", ""),
			PublicKeyFile: p.String("AUTH_PUBLIC_KEY_FILE", ""),
			Issuer:        p.String("AUTH_ISSUER", ""),
			Audience:      p.String("AUTH_AUDIENCE", ""),
		},
		MaxInFlight: p.Int("MAX_IN_FLIGHT", 512, 1_000_000),
	}
	var err error
	switch v := p.String("RATE_LIMIT", "100"); v {
	case "off", "0":
	default:
		s.RateLimit, err = strconv.Atoi(v)
		if err != nil || s.RateLimit < 1 || s.RateLimit > 1_000_000 {
			s.RateLimit, err = 0, fmt.Errorf("RATE_LIMIT: want requests per second from 1 to 1000000, or off, got %q", v)
		}
	}
	s.RateBurst = p.Int("RATE_BURST", max(2*s.RateLimit, 1), 1_000_000)
	return s, err
}

// Guard builds the guard: it verifies the authentication settings (reading the public key file with
// readFile) and fails, naming the setting, when they cannot work.
func (s GuardSettings) Guard(readFile func(string) ([]byte, error)) (Guard, error) {
	g := Guard{
		MaxInFlight: s.MaxInFlight,
		RateLimit:   RateLimitConfig{Rate: float64(s.RateLimit), Burst: s.RateBurst},
	}
	cfg, enabled, err := s.Auth.Load(readFile)
	if err != nil || !enabled {
		return g, err
	}
	if g.Verifier, err = auth.NewVerifier(cfg); err != nil {
		return g, fmt.Errorf("AUTH: %w", err)
	}
	return g, nil
}
