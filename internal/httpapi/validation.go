package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// FieldError says why one field of a request is invalid. Field is the JSON name of a body field, or
// the name of a header or path parameter.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError is a 400: a request that is malformed or has invalid values. Detail describes a
// problem with the request as a whole; Fields lists each bad field.
type ValidationError struct {
	Detail string
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Reason
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Fields collects field errors; its Err is nil while none were added.
type Fields []FieldError

// Add records that field is invalid because of err.
func (f *Fields) Add(field string, err error) {
	*f = append(*f, FieldError{Field: field, Reason: err.Error()})
}

// Addf records that field is invalid, for the reason formatted.
func (f *Fields) Addf(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// Err returns a *ValidationError with the fields collected, or nil.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// DecodeJSON decodes a request body holding one JSON object into v, strictly: unknown fields, values of
// the wrong type, malformed JSON, anything but an object and trailing data are *ValidationErrors,
// naming the field where known. Field names match case-insensitively, as encoding/json does.
func DecodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return &ValidationError{Detail: "The request body is empty; it must be a JSON object."}
	}
	if trimmed[0] != '{' {
		return &ValidationError{Detail: "The request body must be a JSON object."}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &ValidationError{Detail: "The request body must hold a single JSON object and nothing after it."}
	}
	return nil
}

// ReadBody reads the whole request body. A body over the limit set by [BodyLimit] returns the
// *http.MaxBytesError (a 413).
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooBig
		}
		return nil, &ValidationError{Detail: "The request body could not be read."}
	}
	return b, nil
}

func decodeError(err error) error {
	var (
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return &ValidationError{Detail: fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Detail: "The request body is not valid JSON (it ends too early)."}
	case errors.As(err, &wrongType):
		field := wrongType.Field
		if field == "" {
			return &ValidationError{Detail: "The request body must be a JSON object."}
		}
		return &ValidationError{Fields: []FieldError{{Field: field, Reason: "must be " + jsonKind(wrongType.Type) + ", got " + wrongType.Value}}}
	}
	// encoding/json has no typed error for an unknown field; its message is the only way to tell.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &ValidationError{Fields: []FieldError{{Field: strings.Trim(name, `"`), Reason: "unknown field"}}}
	}
	return &ValidationError{Detail: "The request body could not be decoded."}
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}
