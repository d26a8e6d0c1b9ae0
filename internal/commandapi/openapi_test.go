package commandapi

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/orderflow/orderflow/internal/openapitest"
)

// TestRoutesMatchOpenAPI fails when the server registers a route the document does not describe, or
// the document describes one the server does not have.
func TestRoutesMatchOpenAPI(t *testing.T) {
	openapitest.CheckRoutes(t, openAPIDocument, New(Config{Logger: slog.New(slog.DiscardHandler)}).Routes())
}

func TestOpenAPIIsServed(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Config{Logger: slog.New(slog.DiscardHandler)}).ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Errorf("GET /openapi.json: %d, %d bytes; want the embedded document", rec.Code, rec.Body.Len())
	}
}
