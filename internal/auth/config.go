package auth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Settings are the authentication settings as the services read them from the environment (see
// cmd/*/config.go); Load turns them into a Config.
//
//	AUTH                  on (default) or off; off is for local development only
//	AUTH_HMAC_SECRET      HS256 secret, at least 32 bytes
//	AUTH_PUBLIC_KEY_FILE  PEM file of an Ed25519 (EdDSA) or RSA (RS256) public key
//	AUTH_ISSUER           required iss, if set
//	AUTH_AUDIENCE         required aud, if set
type Settings struct {
	Mode          string
	HMACSecret    string
	PublicKeyFile string
	Issuer        string
	Audience      string
}

// Load checks s and returns the verifier configuration, with enabled false for AUTH=off. readFile
// reads the public key file (os.ReadFile in main). Errors start with the setting's name.
func (s Settings) Load(readFile func(string) ([]byte, error)) (cfg Config, enabled bool, err error) {
	switch strings.ToLower(s.Mode) {
	case "", "on", "true", "1":
	case "off", "false", "0":
		return Config{}, false, nil
	default:
		return Config{}, false, fmt.Errorf("AUTH: want on or off, got %q", s.Mode)
	}
	cfg = Config{Issuer: s.Issuer, Audience: s.Audience, Leeway: 30 * time.Second}
	var errs []error
	if s.HMACSecret != "" {
		cfg.Secret = []byte(s.HMACSecret)
		if len(cfg.Secret) < MinSecretBytes {
			errs = append(errs, fmt.Errorf("AUTH_HMAC_SECRET: must be at least %d bytes", MinSecretBytes))
		}
	}
	if s.PublicKeyFile != "" {
		pemBytes, rerr := readFile(s.PublicKeyFile)
		if rerr == nil {
			cfg.PublicKey, rerr = ParsePublicKey(pemBytes)
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("AUTH_PUBLIC_KEY_FILE: %w", rerr))
		}
	}
	if cfg.Secret == nil && s.PublicKeyFile == "" {
		errs = append(errs, errors.New("AUTH: authentication is on but no key is set: set AUTH_HMAC_SECRET or AUTH_PUBLIC_KEY_FILE, or AUTH=off for local development"))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, true, err
	}
	return cfg, true, cfg.Validate()
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (PKIX) block holding an Ed25519 or RSA key.
func ParsePublicKey(pemBytes []byte) (any, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("want a PEM block of type PUBLIC KEY")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	switch key.(type) {
	case ed25519.PublicKey, *rsa.PublicKey:
		return key, nil
	default:
		return nil, fmt.Errorf("unsupported public key %T: want Ed25519 or RSA", key)
	}
}
