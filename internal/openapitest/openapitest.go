// Package openapitest checks in tests that an HTTP API's OpenAPI document and its echo routes agree,
// so that neither can gain an operation the other lacks. It is shared by the command and query APIs.
package openapitest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// CheckRoutes reports an error on tb for each difference Problems finds, and fails tb if there are no
// routes at all.
func CheckRoutes(tb testing.TB, doc []byte, routes []*echo.Route) {
	tb.Helper()
	problems, err := Problems(doc, routes)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range problems {
		tb.Error(p)
	}
	if len(routes) == 0 {
		tb.Fatal("no routes")
	}
}

// operations are the keys of an OpenAPI path item that are operations, as opposed to "parameters",
// "summary" and the like.
var operations = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

var routeParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// Problems compares routes with the operations of doc, an OpenAPI 3.1 JSON document, as
// "METHOD /path/{param}", and returns one message per difference: a document that is not 3.1, a route
// the document does not describe, an operation with no route. It returns an error only when doc is
// not JSON.
func Problems(doc []byte, routes []*echo.Route) ([]string, error) {
	var d struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	var problems []string
	if !strings.HasPrefix(d.OpenAPI, "3.1.") {
		problems = append(problems, fmt.Sprintf("openapi = %q, want 3.1.x", d.OpenAPI))
	}
	var documented []string
	for path, item := range d.Paths {
		for method := range item {
			if operations[method] {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var registered []string
	for _, r := range routes {
		registered = append(registered, r.Method+" "+routeParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			problems = append(problems, fmt.Sprintf("route %s is not in openapi.json", r))
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			problems = append(problems, fmt.Sprintf("openapi.json has %s, which the server does not register", d))
		}
	}
	return problems, nil
}
