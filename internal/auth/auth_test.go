package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// sign signs claims with method and key, for tokens SignHS256 would not make.
func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Now()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Secret: secret, PublicKey: pub, Issuer: "orderflow", Audience: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	good := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "c-1", "roles": []string{"customer"}, "iss": "orderflow", "aud": "orders",
			"exp": now.Add(time.Hour).Unix()}
		for k, x := range extra {
			if x == nil {
				delete(c, k)
			} else {
				c[k] = x
			}
		}
		return c
	}
	hs := func(extra jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, good(extra)) }
	issued, err := SignHS256(secret, "staff-7", Staff, "orderflow", "orders", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(nil))

	tests := []struct {
		name  string
		token string
		want  *Principal
	}{
		{"HS256", hs(nil), &Principal{Subject: "c-1", Role: Customer}},
		{"EdDSA", sign(t, jwt.SigningMethodEdDSA, priv, good(nil)), &Principal{Subject: "c-1", Role: Customer}},
		{"SignHS256", issued, &Principal{Subject: "staff-7", Role: Staff}},
		{"strongest role counts", hs(jwt.MapClaims{"roles": []string{"customer", "other-app", "admin"}}), &Principal{Subject: "c-1", Role: Admin}},
		{"expired", hs(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), nil},
		{"no exp", hs(jwt.MapClaims{"exp": nil}), nil},
		{"not yet valid", hs(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}), nil},
		{"wrong issuer", hs(jwt.MapClaims{"iss": "someone"}), nil},
		{"wrong audience", hs(jwt.MapClaims{"aud": "billing"}), nil},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another secret that is long enough!!"), good(nil)), nil},
		{"alg none", none, nil},
		{"HS512 not pinned", sign(t, jwt.SigningMethodHS512, secret, good(nil)), nil},
		{"no known role", hs(jwt.MapClaims{"roles": []string{"root"}}), nil},
		{"no subject", hs(jwt.MapClaims{"sub": nil}), nil},
		{"control character in subject", hs(jwt.MapClaims{"sub": "c-1\n"}), nil},
		{"garbage", "not.a.token", nil},
		{"tampered", hs(nil)[:20] + "x" + hs(nil)[21:], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(tt.token)
			if tt.want == nil {
				if !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("accepted (%+v, %v), want ErrUnauthenticated", p, err)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Errorf("error repeats the token: %v", err)
				}
				return
			}
			if err != nil || *p != *tt.want {
				t.Fatalf("got %+v, %v; want %+v", p, err, tt.want)
			}
		})
	}

	// An HS256 token signed with the public key's bytes (the classic confusion) fails on an
	// EdDSA-only verifier: HS256 is not among its algorithms.
	edOnly, err := NewVerifier(Config{PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edOnly.Verify(sign(t, jwt.SigningMethodHS256, []byte(pub), jwt.MapClaims{"sub": "x", "roles": []string{"admin"}, "exp": now.Add(time.Hour).Unix()})); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("HS256 with the public key as secret: %v", err)
	}
}

func TestPolicy(t *testing.T) {
	var off *Principal // authentication off
	customer := &Principal{Subject: "c-1", Role: Customer}
	staff := &Principal{Subject: "s", Role: Staff}
	admin := &Principal{Subject: "a", Role: Admin}
	tests := []struct {
		p                  *Principal
		ownsOwn, ownsOther bool
		staff, admin       bool
		ownCustomer        string
	}{
		{off, true, true, true, true, ""},
		{customer, true, false, false, false, "c-1"},
		{staff, true, true, true, false, ""},
		{admin, true, true, true, true, ""},
	}
	for _, tt := range tests {
		if tt.p.Owns("c-1") != tt.ownsOwn || tt.p.Owns("c-2") != tt.ownsOther {
			t.Errorf("%+v: Owns c-1 %v, c-2 %v", tt.p, tt.p.Owns("c-1"), tt.p.Owns("c-2"))
		}
		if (tt.p.Require(Staff) == nil) != tt.staff || (tt.p.Require(Admin) == nil) != tt.admin {
			t.Errorf("%+v: Require staff %v, admin %v", tt.p, tt.p.Require(Staff), tt.p.Require(Admin))
		}
		if err := tt.p.CheckOwner("c-2"); (err == nil) != tt.ownsOther || err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("%+v: CheckOwner c-2: %v", tt.p, err)
		}
		if got := tt.p.OwnCustomer(); got != tt.ownCustomer {
			t.Errorf("%+v: OwnCustomer %q", tt.p, got)
		}
	}
}

func TestSettingsLoad(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"good.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"bad.pem":  []byte("not pem"),
	}
	readFile := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return b, nil
		}
		return nil, errors.New("no such file")
	}
	tests := []struct {
		name    string
		s       Settings
		enabled bool
		wantErr string // the setting named, "" for success
	}{
		{"off", Settings{Mode: "off"}, false, ""},
		{"secret", Settings{HMACSecret: string(secret)}, true, ""},
		{"public key", Settings{Mode: "on", PublicKeyFile: "good.pem"}, true, ""},
		{"on without a key", Settings{Mode: "on"}, true, "AUTH:"},
		{"default is on", Settings{}, true, "AUTH:"},
		{"short secret", Settings{HMACSecret: "short"}, true, "AUTH_HMAC_SECRET:"},
		{"unreadable key", Settings{PublicKeyFile: "missing.pem"}, true, "AUTH_PUBLIC_KEY_FILE:"},
		{"not PEM", Settings{PublicKeyFile: "bad.pem"}, true, "AUTH_PUBLIC_KEY_FILE:"},
		{"bad mode", Settings{Mode: "maybe"}, false, "AUTH:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, enabled, err := tt.s.Load(readFile)
			if tt.wantErr == "" {
				if err != nil || enabled != tt.enabled {
					t.Fatalf("enabled %v, %v", enabled, err)
				}
				if enabled {
					if _, err := NewVerifier(cfg); err != nil {
						t.Errorf("verifier: %v", err)
					}
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to start with %s", err, tt.wantErr)
			}
			if strings.Contains(fmtErr(err), string(secret)) {
				t.Errorf("error shows the secret")
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestVerifiedTokensRemembered: an accepted token is taken again without a new check, but never past
// its expiry (with the leeway) nor for longer than verifiedTTL.
func TestVerifiedTokensRemembered(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		ttl     time.Duration // of the token
		later   time.Duration // when it is shown again
		swapKey bool          // the verifier's key changes in between: only a remembered token passes
		wantOK  bool
	}{
		{name: "remembered", ttl: time.Hour, later: 30 * time.Second, swapKey: true, wantOK: true},
		{name: "checked again after verifiedTTL", ttl: time.Hour, later: verifiedTTL + time.Second, swapKey: true},
		{name: "checked again after verifiedTTL, still good", ttl: time.Hour, later: verifiedTTL + time.Second, wantOK: true},
		{name: "within the leeway", ttl: 10 * time.Second, later: 35 * time.Second, swapKey: true, wantOK: true},
		{name: "not past its expiry", ttl: 10 * time.Second, later: 41 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Config{Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			v.now = func() time.Time { return now }
			token, err := SignHS256(secret, "c-9", Customer, "", "", t0, tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(token); err != nil {
				t.Fatalf("first check: %v", err)
			}
			now = t0.Add(tt.later)
			if tt.swapKey {
				v.keys[jwt.SigningMethodHS256.Alg()] = []byte("another secret, another secret!!")
			}
			p, err := v.Verify(token)
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("shown again after %s: %v", tt.later, err)
			case tt.wantOK && (p.Subject != "c-9" || p.Role != Customer):
				t.Errorf("shown again: %+v", p)
			case !tt.wantOK && err == nil:
				t.Errorf("shown again after %s: accepted", tt.later)
			}
		})
	}
}
