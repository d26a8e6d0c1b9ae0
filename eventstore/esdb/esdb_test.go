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

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/eventstore/esdb"
	"github.com/orderflow/orderflow/eventstore/storetest"
	"github.com/orderflow/orderflow/internal/esdbtest"
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

var shared struct {
	once   sync.Once
	client *kurrent.Client
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.client != nil {
		_ = shared.client.Close()
	}
	os.Exit(code) // the container, if any, goes with the binary (testcontainers' reaper)
}

// server returns a client of the test server (internal/esdbtest), skipping t when there is none to
// be had.
func server(t *testing.T) *kurrent.Client {
	t.Helper()
	url := esdbtest.URL(t)
	shared.once.Do(func() { shared.client, shared.err = connect(url) })
	if shared.err != nil {
		t.Fatalf("test server: %v", shared.err)
	}
	return shared.client
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
