package httpapi

import (
	"strconv"
	"strings"
)

// ETag returns the strong entity tag of a version: "N", quotes included.
func ETag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// ParseIfMatch reads an If-Match header: absent is nil, otherwise one strong entity tag "N" holding a
// version. Weak tags (W/"N") are refused, since If-Match uses the strong comparison (RFC 9110, 13.1.1),
// and so are "*" and lists: a command names the one version it was decided against.
func ParseIfMatch(header string) (*uint64, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil, nil
	}
	var f Fields
	switch {
	case strings.HasPrefix(header, "W/"):
		f.Addf("If-Match", `must be a strong entity tag such as "3"; weak tags do not match (RFC 9110)`)
	case len(header) < 3 || header[0] != '"' || header[len(header)-1] != '"':
		f.Addf("If-Match", `must be one entity tag such as "3", quotes included`)
	default:
		digits := header[1 : len(header)-1]
		v, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || strings.TrimLeft(digits, "0123456789") != "" {
			f.Addf("If-Match", `must be a version number in quotes, such as "3"`)
			break
		}
		return &v, nil
	}
	return nil, f.Err()
}
