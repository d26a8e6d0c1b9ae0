package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/telemetry"
)

// TestComposeFileIsValid loads docker-compose.yml the way docker compose
// does (schema validation, interpolation, consistency checks), since no
// Docker engine runs here to try it, and checks the start-up order.
func TestComposeFileIsValid(t *testing.T) {
	project := loadCompose(t)

	for _, name := range []string{"postgres", "kurrentdb", "command-api", "query-api", "projector", "lb"} {
		svc, err := project.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s has no health check: what depends on it waits for it", name)
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
		// Authentication is on by default, with a key, or the services would refuse to start.
		if a := svc.Environment["AUTH"]; a == nil || *a != "on" {
			t.Errorf("%s: AUTH = %v, want on", name, a)
		}
		if k := svc.Environment["AUTH_HMAC_SECRET"]; k == nil || len(*k) < auth.MinSecretBytes {
			t.Errorf("%s: AUTH_HMAC_SECRET missing or shorter than %d bytes", name, auth.MinSecretBytes)
		}
		if k := svc.Environment["METRICS_TOKEN"]; k == nil || *k == "" || telemetry.CheckMetricsToken(*k) != nil {
			t.Errorf("%s: METRICS_TOKEN missing or not a valid token", name)
		}
		if hc := svc.HealthCheck; hc == nil || len(hc.Test) < 2 || hc.Test[1] != "/healthcheck" {
			t.Errorf("%s: health check %v, want the image's /healthcheck (distroless has no shell)", name, hc)
		}
	}

	// The APIs run two replicas each, reached only through the load balancer.
	nginx, err := os.ReadFile("../deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := project.GetService("lb")
	if err != nil {
		t.Fatal(err)
	}
	for name, port := range map[string]string{"command-api": "8080", "query-api": "8081"} {
		svc, _ := project.GetService(name)
		if svc.Deploy == nil || svc.Deploy.Replicas == nil || *svc.Deploy.Replicas != 2 {
			t.Errorf("%s: deploy %+v, want 2 replicas", name, svc.Deploy)
		}
		if len(svc.Ports) != 0 {
			t.Errorf("%s publishes ports %v: replicas cannot share them; the load balancer does", name, svc.Ports)
		}
		if d, ok := lb.DependsOn[name]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("lb does not wait for healthy %s: %+v", name, lb.DependsOn)
		}
		if !strings.Contains(string(nginx), "server "+name+":"+port) {
			t.Errorf("deploy/nginx.conf has no upstream %s:%s", name, port)
		}
		if !slices.ContainsFunc(lb.Ports, func(p types.ServicePortConfig) bool { return p.Published == port }) {
			t.Errorf("lb does not publish %s: %v", port, lb.Ports)
		}
	}

	// The observability stack only runs under its profile.
	observability := []string{"otel-collector", "jaeger", "prometheus"}
	for _, name := range observability {
		if slices.Contains(project.ServiceNames(), name) {
			t.Errorf("%s runs without the observability profile", name)
		}
	}
	withProfile := loadCompose(t, "observability")
	for _, name := range observability {
		svc, err := withProfile.GetService(name)
		if err != nil {
			t.Errorf("observability profile lacks %s: %v", name, err)
			continue
		}
		for _, v := range svc.Volumes {
			if _, err := os.Stat(v.Source); v.Type == types.VolumeTypeBind && err != nil {
				t.Errorf("%s mounts %s: %v", name, v.Source, err)
			}
		}
	}
	// Prometheus sends the services' METRICS_TOKEN with every scrape: the compose config it mounts
	// holds the same value, and every job of its configuration reads it.
	prom, err := withProfile.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	api, err := withProfile.GetService("command-api")
	if err != nil {
		t.Fatal(err)
	}
	const tokenFile = "/etc/prometheus/metrics-token"
	if len(prom.Configs) != 1 || prom.Configs[0].Target != tokenFile {
		t.Errorf("prometheus mounts configs %+v, want the metrics token at %s", prom.Configs, tokenFile)
	} else if c := withProfile.Configs[prom.Configs[0].Source]; api.Environment["METRICS_TOKEN"] == nil || c.Content != *api.Environment["METRICS_TOKEN"] {
		t.Errorf("the token prometheus reads is not the services' METRICS_TOKEN")
	}
	promConfig, err := os.ReadFile("../deploy/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if jobs, withToken := strings.Count(string(promConfig), "job_name:"), strings.Count(string(promConfig), "credentials_file: "+tokenFile); jobs != withToken {
		t.Errorf("deploy/prometheus.yml: %d jobs, %d of them send the metrics token", jobs, withToken)
	}
}

// loadCompose loads docker-compose.yml the way docker compose does (schema validation, interpolation,
// consistency checks), with the given profiles active.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."), cli.WithConsistency(true), cli.WithResolvedPaths(true), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return project
}
