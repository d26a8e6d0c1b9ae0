package queryapi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/httpapi"
	"github.com/orderflow/orderflow/internal/queryapi/readmodel"
)

// consistency is what a request asks of the data's freshness.
type consistency struct {
	min      eventstore.Position // zero: any
	wait     bool                // whether min was given
	patience time.Duration       // how long to wait for min
}

// readConsistency reads X-Min-Position (or the query parameter min_position) and X-Max-Wait-Ms.
// X-Max-Wait-Ms above the ceiling is lowered to it rather than refused: the ceiling is the server's
// limit, and a client cannot know it.
func (h *handlers) readConsistency(c echo.Context, query map[string]string, f *httpapi.Fields) consistency {
	cons := consistency{patience: h.maxWait}
	parse := func(name, token string) eventstore.Position {
		pos, err := eventstore.ParsePosition(token)
		if err != nil {
			f.Addf(name, "must be a position token such as 42:7, as the command API returns it")
		}
		return pos
	}
	header, inHeader := headerValue(c, HeaderMinPosition)
	param, inQuery := query["min_position"]
	switch {
	case inHeader && inQuery:
		cons.min = parse(HeaderMinPosition, header)
		if q := parse("min_position", param); q != cons.min {
			f.Addf("min_position", "differs from the %s header; send one of them", HeaderMinPosition)
		}
	case inHeader:
		cons.min = parse(HeaderMinPosition, header)
	case inQuery:
		cons.min = parse("min_position", param)
	}
	cons.wait = inHeader || inQuery

	if v, ok := headerValue(c, HeaderMaxWait); ok {
		ms, err := strconv.ParseUint(v, 10, 63)
		switch {
		case v == "" || strings.TrimLeft(v, "0123456789") != "":
			f.Addf(HeaderMaxWait, "must be a whole number of milliseconds, such as 2000")
		case err != nil || time.Duration(ms) > h.maxWait/time.Millisecond:
			// Too large to parse is above the ceiling too.
		default:
			cons.patience = time.Duration(ms) * time.Millisecond
		}
	}
	return cons
}

// headerValue returns a request header's value, trimmed, and whether it was sent at all.
func headerValue(c echo.Context, name string) (string, bool) {
	values := c.Request().Header.Values(name)
	if len(values) == 0 {
		return "", false
	}
	return strings.TrimSpace(values[0]), true
}

// await waits until projection has reached the position the request asks for, if any. When the wait
// runs out it sets X-Projection-Position to the last position known and returns the
// readmodel.ErrNotReached error (a 503 with Retry-After).
func (h *handlers) await(c echo.Context, cons consistency, projection string) error {
	if !cons.wait {
		return nil
	}
	began := time.Now()
	pos, err := h.progress.Wait(c.Request().Context(), projection, cons.min, cons.patience)
	h.metrics.waited(projection, began, err)
	if errors.Is(err, readmodel.ErrNotReached) {
		setPosition(c, pos)
	}
	return err
}

// served sets X-Projection-Position to pos, the position a read found its data at, and checks it
// against the position the request asked for. The broker's word that the projection got there is not
// enough: projections commit asynchronously, so after a crash of the database server a read model can
// step back behind positions already notified, and until the broker hears of it (its connection
// ends, or a wait reaches its bound) a request must get a 503, not older data as if it were newer.
func served(c echo.Context, cons consistency, pos eventstore.Position) error {
	setPosition(c, pos)
	if cons.wait && pos.Compare(cons.min) < 0 {
		return fmt.Errorf("%w: the read model is at %s, want %s", readmodel.ErrNotReached, pos, cons.min)
	}
	return nil
}

// setPosition sets X-Projection-Position.
func setPosition(c echo.Context, pos eventstore.Position) {
	c.Response().Header().Set(HeaderProjectionPosition, pos.String())
}
