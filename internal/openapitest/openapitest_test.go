package openapitest

import (
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestProblems(t *testing.T) {
	doc := []byte(`{"openapi": "3.1.0", "paths": {
		"/orders/{id}": {"parameters": [], "get": {}, "put": {}},
		"/health": {"summary": "liveness", "get": {}}}}`)
	routes := []*echo.Route{
		{Method: "GET", Path: "/orders/:id"},
		{Method: "GET", Path: "/health"},
		{Method: "POST", Path: "/orders"},
	}
	got, err := Problems(doc, routes)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"route POST /orders is not in openapi.json",
		"openapi.json has PUT /orders/{id}, which the server does not register",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Problems = %q, want %q", got, want)
	}

	got, err = Problems([]byte(`{"openapi": "3.0.3", "paths": {"/health": {"get": {}}}}`), routes[1:2])
	if err != nil || !slices.Equal(got, []string{`openapi = "3.0.3", want 3.1.x`}) {
		t.Errorf("Problems of a 3.0 document = %q, %v", got, err)
	}
	if _, err := Problems([]byte(`not json`), routes); err == nil {
		t.Error("Problems accepted a document that is not JSON")
	}
}
