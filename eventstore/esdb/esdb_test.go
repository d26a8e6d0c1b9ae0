package esdb_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	kurrent "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/esdb"
	"github.com/orderflow/orderflow/eventstore/storetest"
)

// The conformance suite runs against a real server: the one at ESDB_URL
// (say kurrentdb://localhost:2113?tls=false) when set, else a KurrentDB
// container started once for the test binary. Each store the suite asks
// for is a view of that one server under a random stream prefix.
//
// The suite appends a 1 MiB event, more than a server takes by default
// (MaxAppendSize is 1 MiB): a server at ESDB_URL needs a larger
// MaxAppendSize, as the container below has.
func TestConformance(t *testing.T) {
	client := server(t)
	storetest.Run(t, func(t *testing.T) eventstore.Store {
		prefix := "st" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12] + "-"
		return esdb.New(client, esdb.WithStreamPrefix(prefix))
	})
}

// kurrentImage is a KurrentDB LTS release, pinned so that a new release
// cannot change what the suite tests.
const kurrentImage = "docker.kurrent.io/kurrent-lts/kurrentdb:25.0"

var shared struct {
	once      sync.Once
	client    *kurrent.Client
	container testcontainers.Container
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.client != nil {
		_ = shared.client.Close()
	}
	if shared.container != nil {
		_ = testcontainers.TerminateContainer(shared.container)
	}
	os.Exit(code)
}

// server returns a client of the test server, skipping t when there is
// none to be had.
func server(t *testing.T) *kurrent.Client {
	t.Helper()
	url := os.Getenv("ESDB_URL")
	if url == "" {
		t.Log("ESDB_URL is not set: trying to start KurrentDB with testcontainers, which needs a Docker engine")
		testcontainers.SkipIfProviderIsNotHealthy(t)
	}
	shared.once.Do(func() {
		if url == "" {
			shared.container, url, shared.err = startKurrentDB()
			if shared.err != nil {
				return
			}
		}
		shared.client, shared.err = connect(url)
	})
	if shared.err != nil {
		t.Fatalf("test server: %v", shared.err)
	}
	return shared.client
}

func startKurrentDB() (testcontainers.Container, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctr, err := testcontainers.Run(ctx, kurrentImage,
		testcontainers.WithEnv(map[string]string{
			"KURRENTDB_INSECURE":        "true",
			"KURRENTDB_MEM_DB":          "true",
			"KURRENTDB_RUN_PROJECTIONS": "None",
			"KURRENTDB_MAX_APPEND_SIZE": "8388608", // the suite appends 1 MiB events
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
		return nil, "", fmt.Errorf("start %s: %w", kurrentImage, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "2113/tcp", "")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, "", err
	}
	return ctr, "esdb://" + endpoint + "?tls=false", nil
}

// connect returns a client once the server takes writes: a node is live
// before it has become leader.
func connect(url string) (*kurrent.Client, error) {
	if rest, ok := strings.CutPrefix(url, "kurrentdb"); ok { // client v4.2.0 knows esdb:// only
		url = "esdb" + rest
	}
	config, err := kurrent.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("ESDB_URL: %w", err)
	}
	config.Logger = kurrent.NoopLogging()
	deadline := time.Now().Add(time.Minute)
	for {
		client, err := kurrent.NewClient(config)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = client.AppendToStream(ctx, "storetest-ready", kurrent.AppendToStreamOptions{},
			kurrent.EventData{EventType: "Ready", ContentType: kurrent.ContentTypeJson, Data: []byte(`{}`)})
		cancel()
		if err == nil {
			return client, nil
		}
		_ = client.Close()
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("server at %s does not take writes: %w", url, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
