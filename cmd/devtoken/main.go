// Command devtoken prints development bearer tokens for the order platform's APIs: one per role, or
// one for the role and subject given, signed HS256 with AUTH_HMAC_SECRET (and with AUTH_ISSUER and
// AUTH_AUDIENCE when set), as the services verify them. make run uses it to print ready tokens.
//
//	AUTH_HMAC_SECRET=... devtoken                      # customer (subject c-1), staff and admin tokens
//	AUTH_HMAC_SECRET=... devtoken -role customer -sub c-42 -ttl 1h
//
// Production tokens come from an identity provider; this tool is for local development and tests.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/orderflow/orderflow/internal/auth"
)

func main() {
	role := flag.String("role", "", "role of a single token: customer, staff or admin (default: one token per role)")
	sub := flag.String("sub", "", "subject of a single token (default: c-1 for a customer, the role's name otherwise)")
	ttl := flag.Duration("ttl", 24*time.Hour, "how long the tokens are valid")
	flag.Parse()

	secret := os.Getenv("AUTH_HMAC_SECRET")
	if len(secret) < auth.MinSecretBytes {
		fmt.Fprintf(os.Stderr, "devtoken: AUTH_HMAC_SECRET must be set, at least %d bytes\n", auth.MinSecretBytes)
		os.Exit(2)
	}
	roles := auth.Roles()
	if *role != "" {
		roles = []string{*role}
	}
	now := time.Now()
	for _, name := range roles {
		r, err := auth.ParseRole(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devtoken:", err)
			os.Exit(2)
		}
		subject := *sub
		if subject == "" {
			subject = defaultSubject(r)
		}
		token, err := auth.SignHS256([]byte(secret), subject, r, os.Getenv("AUTH_ISSUER"), os.Getenv("AUTH_AUDIENCE"), now, *ttl)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devtoken:", err)
			os.Exit(1)
		}
		if *role != "" {
			fmt.Println(token)
			continue
		}
		fmt.Printf("%-8s (sub %s)  %s\n", name, subject, token)
	}
}

// defaultSubject: a customer's subject is its customer ID.
func defaultSubject(r auth.Role) string {
	if r == auth.Customer {
		return "c-1"
	}
	return r.String()
}
