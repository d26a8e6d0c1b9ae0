// Package esdbtest gives tests an EventStoreDB/KurrentDB server: the one at ESDB_URL when it is set,
// else a KurrentDB container started once per test binary with testcontainers (a generic container:
// testcontainers has no module for it), else the test is skipped. It is the EventStoreDB counterpart
// of internal/pgtest.
package esdbtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// EnvURL names the environment variable of a server to use instead of a container. Reading the
// environment here, below cmd/, is deliberate: this is test set-up, chosen by whoever runs the tests.
const EnvURL = "ESDB_URL"

// Image is a KurrentDB LTS release, pinned so that a new release cannot change what the tests test.
const Image = "docker.kurrent.io/kurrent-lts/kurrentdb:25.0"

// container is the test binary's one KurrentDB container; testcontainers' reaper removes it when the
// binary exits (see internal/pgtest for why a process-wide server is the better trade here).
var container struct {
	once sync.Once
	url  string
	err  error
}

// URL returns the connection string of the test server (esdb://host:port?tls=false), or skips tb
// when there is neither ESDB_URL nor a Docker engine. The container takes events up to 8 MiB.
func URL(tb testing.TB) string {
	tb.Helper()
	if url := os.Getenv(EnvURL); url != "" {
		return url
	}
	if t, ok := tb.(*testing.T); ok {
		t.Log(EnvURL + " is not set: trying to start KurrentDB with testcontainers, which needs a Docker engine")
		testcontainers.SkipIfProviderIsNotHealthy(t)
	}
	container.once.Do(func() { container.url, container.err = start() })
	if container.err != nil {
		tb.Fatalf("esdbtest: %v", container.err)
	}
	return container.url
}

func start() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(ctx, Image,
		testcontainers.WithEnv(map[string]string{
			"KURRENTDB_INSECURE":        "true",
			"KURRENTDB_MEM_DB":          "true",
			"KURRENTDB_RUN_PROJECTIONS": "None",
			"KURRENTDB_MAX_APPEND_SIZE": "8388608", // the conformance suite appends 1 MiB events
		}),
		testcontainers.WithExposedPorts("2113/tcp"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/health/live").
			WithPort("2113/tcp").
			WithStatusCodeMatcher(func(status int) bool { return status == 200 || status == 204 }).
			WithStartupTimeout(3*time.Minute)),
	)
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return "", fmt.Errorf("start %s: %w", Image, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "2113/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return "", err
	}
	return "esdb://" + endpoint + "?tls=false", nil
}
