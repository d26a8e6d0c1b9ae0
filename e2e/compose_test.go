package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFileIsValid loads docker-compose.yml the way docker compose
// does (schema validation, interpolation, consistency checks), since no
// Docker engine runs here to try it, and checks the start-up order.
func TestComposeFileIsValid(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."), cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}

	for _, name := range []string{"postgres", "kurrentdb"} {
		svc, err := project.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check: the services' depends_on conditions wait for it", name)
		}
	}
	for _, name := range []string{"command-api", "projector", "query-api"} {
		svc, err := project.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, dep := range []string{"postgres", "kurrentdb"} {
			if d, ok := svc.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s does not wait for %s to be healthy: %+v", name, dep, svc.DependsOn)
			}
		}
		if svc.Build == nil || svc.Build.Args["SERVICE"] == nil || *svc.Build.Args["SERVICE"] != name {
			t.Errorf("%s is not built from its own cmd/%s: %+v", name, name, svc.Build)
		}
		if svc.Environment["DATABASE_URL"] == nil || svc.Environment["EVENTSTORE_URL"] == nil {
			t.Errorf("%s lacks DATABASE_URL or EVENTSTORE_URL", name)
		}
	}
	if names := project.ServiceNames(); !slices.Contains(names, "query-api") {
		t.Errorf("services = %v", names)
	}
}
