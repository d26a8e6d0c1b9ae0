package main

import (
	"testing"

	"github.com/orderflow/orderflow/internal/proctest"
)

// binary is the query-api executable built by TestMain. A package variable because TestMain has no
// other way to hand it to the tests.
var binary string

// TestMain builds the real binary once; the tests start it as a process and talk to it over HTTP.
func TestMain(m *testing.M) {
	proctest.Main(m, func(b []string) { binary = b[0] }, "github.com/orderflow/orderflow/cmd/query-api")
}

// serve starts the binary on a free port of 127.0.0.1 and returns it once it is ready: /readyz
// answers 200, so the listener is up too.
func startQueryAPI(t *testing.T, settings map[string]string) *proctest.Process {
	t.Helper()
	settings["HTTP_ADDR"] = "127.0.0.1:0"
	p := proctest.Start(t, binary, settings)
	p.WaitOK("/readyz")
	return p
}
