package domain

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// textProblem says why s is not acceptable as a text value of min..max
// characters, or returns "" if it is.
//
// Lengths count runes, not bytes, so a limit means the same for "Zürich" as
// for "Zurich". Invalid UTF-8 is refused because encoding/json would quietly
// replace it, and an event must decode to exactly what was decided. Control
// characters and surrounding spaces are refused rather than trimmed: a value
// object never changes what it was given, and "  " is not a name.
func textProblem(s string, min, max int) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n < min || n > max {
		if min == 0 {
			return fmt.Sprintf("must be at most %d characters, got %d", max, n)
		}
		return fmt.Sprintf("must be %d to %d characters, got %d", min, max, n)
	}
	if s == "" {
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "must not start or end with a space"
	}
	return ""
}

// checkText returns sentinel wrapped with the reason s is not acceptable, or
// nil.
func checkText(sentinel error, s string, min, max int) error {
	if p := textProblem(s, min, max); p != "" {
		return fmt.Errorf("%w: %s", sentinel, p)
	}
	return nil
}
