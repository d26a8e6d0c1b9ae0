package envconfig

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParser(t *testing.T) {
	env := map[string]string{
		"NAME": "  orders ", "WAIT": "250ms", "SIZE": "7", "LEVEL": "debug",
		"BAD_WAIT": "soon", "NEGATIVE_WAIT": "-1s", "BAD_SIZE": "0", "BIG_SIZE": "11", "BAD_LEVEL": "loud",
	}
	p := New(func(k string) string { return env[k] })

	if got := p.String("NAME", "x"); got != "orders" {
		t.Errorf("String = %q", got)
	}
	if got := p.String("UNSET", "x"); got != "x" {
		t.Errorf("String of an unset setting = %q, want the default", got)
	}
	if got := p.Duration("WAIT", time.Second); got != 250*time.Millisecond {
		t.Errorf("Duration = %v", got)
	}
	if got := p.Int("SIZE", 1, 10); got != 7 {
		t.Errorf("Int = %d", got)
	}
	if got := p.Level("LEVEL", slog.LevelInfo); got != slog.LevelDebug {
		t.Errorf("Level = %v", got)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("Err after good settings: %v", err)
	}

	// Malformed settings take their defaults and are each named in Err, one a line.
	if got := p.Duration("BAD_WAIT", time.Second); got != time.Second {
		t.Errorf("Duration of a malformed setting = %v, want the default", got)
	}
	p.Duration("NEGATIVE_WAIT", time.Second)
	p.Int("BAD_SIZE", 1, 10)
	p.Int("BIG_SIZE", 1, 10)
	p.Level("BAD_LEVEL", slog.LevelInfo)
	lines := strings.Split(p.Err().Error(), "\n")
	want := []string{"BAD_WAIT: ", "NEGATIVE_WAIT: ", "BAD_SIZE: ", "BIG_SIZE: ", "BAD_LEVEL: "}
	if len(lines) != len(want) {
		t.Fatalf("Err = %q, want %d lines", p.Err(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
}
