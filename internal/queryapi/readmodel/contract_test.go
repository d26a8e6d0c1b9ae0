package readmodel_test

import (
	"testing"

	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
	"github.com/orderflow/orderflow/projections"
)

// TestProjectorContract: the projection names and the channel are the projector's durable
// identifiers. The query side keeps its own copies, so that serving reads does not depend on the
// projector's code, and this test keeps them equal.
func TestProjectorContract(t *testing.T) {
	for ours, theirs := range map[string]string{
		readmodel.ProjectionOrders:          projections.NameOrders,
		readmodel.ProjectionCustomerSummary: projections.NameCustomerSummary,
		readmodel.ProjectionDailySales:      projections.NameDailySales,
		readmodel.ProjectionAuditLog:        projections.NameAuditLog,
		readmodel.Channel:                   projections.ProgressChannel,
	} {
		if ours != theirs {
			t.Errorf("query side says %q, projector %q", ours, theirs)
		}
	}
}
