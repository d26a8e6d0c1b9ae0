// Package envconfig reads the services' settings from environment variables. A Parser collects one
// error per malformed setting, each starting with the setting's name, so that main can report them
// all at once instead of failing on the first; a malformed setting takes its default meanwhile, so
// that the settings derived from it are still checked.
//
// The environment comes in as a getenv function (os.Getenv in main, a map in tests): nothing here
// reads the process environment itself.
package envconfig

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Parser reads settings through getenv. The zero value is not usable; use New.
type Parser struct {
	getenv func(string) string
	errs   []error
}

// New returns a Parser that reads settings through getenv.
func New(getenv func(string) string) *Parser { return &Parser{getenv: getenv} }

// Err joins the errors of every malformed setting read so far, or returns nil.
func (p *Parser) Err() error { return errors.Join(p.errs...) }

// String returns the setting without surrounding space, or def when it is empty or unset.
func (p *Parser) String(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

// Duration returns the setting as a positive duration such as 5s, or def when it is unset.
func (p *Parser) Duration(name string, def time.Duration) time.Duration {
	v := p.String(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: want a positive duration such as 5s or 250ms, got %q", name, v))
		return def
	}
	return d
}

// Int returns the setting as a whole number from 1 to max, or def when it is unset.
func (p *Parser) Int(name string, def, max int) int {
	v := p.String(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		p.errs = append(p.errs, fmt.Errorf("%s: want a whole number from 1 to %d, got %q", name, max, v))
		return def
	}
	return n
}

// Level returns the setting as a log level (debug, info, warn or error), or def when it is unset.
func (p *Parser) Level(name string, def slog.Level) slog.Level {
	v := p.String(name, "")
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: want debug, info, warn or error, got %q", name, v))
		return def
	}
	return l
}
