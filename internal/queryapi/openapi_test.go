package queryapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/openapitest"
)

// TestRoutesMatchOpenAPI fails when the server registers a route the document does not describe, or
// the document describes one the server does not have.
func TestRoutesMatchOpenAPI(t *testing.T) {
	openapitest.CheckRoutes(t, openAPIDocument, New(Config{Logger: slog.New(slog.DiscardHandler)}).Routes())
}

// TestOpenAPIReferencesResolve catches a $ref to a component that does not exist.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"\$ref": "#/([^"]+)"`).FindAllStringSubmatch(string(openAPIDocument), -1) {
		var node any = doc
		for _, part := range strings.Split(m[1], "/") {
			obj, ok := node.(map[string]any)
			if !ok {
				node = nil
				break
			}
			node = obj[part]
		}
		if node == nil {
			t.Errorf("$ref #/%s resolves to nothing", m[1])
		}
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Config{Logger: slog.New(slog.DiscardHandler)}).ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Errorf("GET /openapi.json: %d, %d bytes; want the embedded document", rec.Code, rec.Body.Len())
	}
}
