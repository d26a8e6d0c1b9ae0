package commandapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/eventstore"
	"github.com/orderflow/orderflow/internal/auth"
	"github.com/orderflow/orderflow/internal/command"
	"github.com/orderflow/orderflow/internal/httpapi"
)

type handlers struct {
	commands executor
}

// commandResult is the body of every successful command.
type commandResult struct {
	OrderID  string `json:"order_id"`
	Version  uint64 `json:"version"`
	Position string `json:"position"`
}

// Request bodies. Required numbers are pointers, so that a missing one is told apart from zero.
type (
	createOrderBody struct {
		OrderID    *string `json:"order_id"`
		CustomerID string  `json:"customer_id"`
		Currency   string  `json:"currency"`
	}
	addItemBody struct {
		SKU            string `json:"sku"`
		Name           string `json:"name"`
		Quantity       *int64 `json:"quantity"`
		UnitPriceCents *int64 `json:"unit_price_cents"`
	}
	shippingAddressBody struct {
		Name       string `json:"name"`
		Line1      string `json:"line1"`
		Line2      string `json:"line2"`
		City       string `json:"city"`
		PostalCode string `json:"postal_code"`
		Country    string `json:"country"`
	}
	paymentBody struct {
		AmountCents      *int64 `json:"amount_cents"`
		PaymentReference string `json:"payment_reference"`
	}
	shipmentBody struct {
		Carrier        string `json:"carrier"`
		TrackingNumber string `json:"tracking_number"`
	}
	cancelBody struct {
		Reason string `json:"reason"`
	}
)

func (h *handlers) createOrder(c echo.Context) error {
	var body createOrderBody
	if err := decode(c, &body); err != nil {
		return err
	}
	var f httpapi.Fields
	var id uuid.UUID
	if body.OrderID != nil {
		var err error
		if id, err = parseUUID(*body.OrderID); err != nil {
			f.Add("order_id", err)
		}
	}
	customer, err := domain.NewCustomerID(body.CustomerID)
	if err != nil {
		f.Add("customer_id", err)
	}
	currency, err := domain.ParseCurrency(body.Currency)
	if err != nil {
		f.Add("currency", err)
	}
	if err := f.Err(); err != nil {
		return err
	}
	// A customer creates orders for itself only; the ownership of existing orders is checked on the
	// order as loaded (see execute).
	if err := auth.FromContext(c.Request().Context()).CheckOwner(string(customer)); err != nil {
		return err
	}
	return h.execute(c, id, domain.CreateOrder{OrderID: id, CustomerID: customer, Currency: currency})
}

func (h *handlers) addItem(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var body addItemBody
	if err := decode(c, &body); err != nil {
		return err
	}
	var f httpapi.Fields
	sku, err := domain.NewSKU(body.SKU)
	if err != nil {
		f.Add("sku", err)
	}
	name, err := domain.NewItemName(body.Name)
	if err != nil {
		f.Add("name", err)
	}
	var qty domain.Quantity
	if body.Quantity == nil {
		f.Addf("quantity", "is required")
	} else if qty, err = domain.NewQuantity(*body.Quantity); err != nil {
		f.Add("quantity", err)
	}
	var price domain.Amount
	if body.UnitPriceCents == nil {
		f.Addf("unit_price_cents", "is required")
	} else if price, err = domain.NewUnitPrice(*body.UnitPriceCents); err != nil {
		f.Add("unit_price_cents", err)
	}
	if err := f.Err(); err != nil {
		return err
	}
	return h.execute(c, id, domain.AddItem{SKU: sku, Name: name, Quantity: qty, UnitPrice: price})
}

func (h *handlers) removeItem(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var f httpapi.Fields
	raw, err := pathParam(c, "sku")
	if err != nil {
		f.Add("sku", err)
		return f.Err()
	}
	sku, err := domain.NewSKU(raw)
	if err != nil {
		f.Add("sku", err)
		return f.Err()
	}
	return h.execute(c, id, domain.RemoveItem{SKU: sku})
}

func (h *handlers) setShippingAddress(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var body shippingAddressBody
	if err := decode(c, &body); err != nil {
		return err
	}
	addr, err := domain.NewAddress(body.Name, body.Line1, body.Line2, body.City, body.PostalCode, body.Country)
	if err != nil {
		return addressFields(err)
	}
	return h.execute(c, id, domain.SetShippingAddress{Address: addr})
}

// addressFields turns the joined *domain.FieldErrors of domain.NewAddress into one field error each.
func addressFields(err error) error {
	var f httpapi.Fields
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var fe *domain.FieldError
		if errors.As(e, &fe) {
			f.Add(fe.Field, fe.Err)
		} else {
			f.Add("address", e)
		}
	}
	return f.Err()
}

func (h *handlers) placeOrder(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	return h.execute(c, id, domain.PlaceOrder{})
}

func (h *handlers) payOrder(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var body paymentBody
	if err := decode(c, &body); err != nil {
		return err
	}
	var f httpapi.Fields
	var amount domain.Amount
	if body.AmountCents == nil {
		f.Addf("amount_cents", "is required")
	} else if amount, err = domain.NewPaymentAmount(*body.AmountCents); err != nil {
		f.Add("amount_cents", err)
	}
	ref, err := domain.NewPaymentReference(body.PaymentReference)
	if err != nil {
		f.Add("payment_reference", err)
	}
	if err := f.Err(); err != nil {
		return err
	}
	return h.execute(c, id, domain.PayOrder{Amount: amount, PaymentReference: ref})
}

func (h *handlers) shipOrder(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var body shipmentBody
	if err := decode(c, &body); err != nil {
		return err
	}
	var f httpapi.Fields
	carrier, err := domain.NewCarrier(body.Carrier)
	if err != nil {
		f.Add("carrier", err)
	}
	tracking, err := domain.NewTrackingNumber(body.TrackingNumber)
	if err != nil {
		f.Add("tracking_number", err)
	}
	if err := f.Err(); err != nil {
		return err
	}
	return h.execute(c, id, domain.ShipOrder{Carrier: carrier, TrackingNumber: tracking})
}

func (h *handlers) deliverOrder(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	return h.execute(c, id, domain.DeliverOrder{})
}

func (h *handlers) cancelOrder(c echo.Context) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var body cancelBody
	if err := decode(c, &body); err != nil {
		return err
	}
	reason, err := domain.NewCancelReason(body.Reason)
	if err != nil {
		var f httpapi.Fields
		f.Add("reason", err)
		return f.Err()
	}
	return h.execute(c, id, domain.CancelOrder{Reason: reason})
}

// execute runs cmd on order id with the request's If-Match, idempotency key and metadata, and writes
// the result. id is zero for a CreateOrder without an order_id.
func (h *handlers) execute(c echo.Context, id uuid.UUID, cmd domain.Command) error {
	req := c.Request()
	ifMatch, err := httpapi.ParseIfMatch(req.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	principal := auth.FromContext(req.Context())
	actor := httpapi.Actor(c)
	if principal != nil {
		actor = principal.Subject // the token, not a header the client chose
	}
	key := req.Header.Get(HeaderIdempotencyKey)
	// The causation ID names the request that caused the events: its idempotency key when it has one,
	// so that all attempts of one client request share it.
	causation := key
	if causation == "" {
		causation = uuid.NewString()
	}
	traceParent, traceState := httpapi.TraceContext(c)
	res, err := h.commands.Execute(req.Context(), command.Request{
		OrderID:        id,
		Command:        cmd,
		IfMatch:        ifMatch,
		IdempotencyKey: scopedKey(principal, key),
		// Checked on the order as loaded, before deciding: refused, the command writes nothing.
		Authorize: func(o *domain.Order) error {
			if !o.Exists() {
				return nil // nothing to own yet: a create was checked above, anything else is a 404
			}
			return principal.CheckOwner(string(o.CustomerID()))
		},
		Metadata: eventstore.Metadata{
			CorrelationID: httpapi.CorrelationID(c),
			CausationID:   causation,
			Actor:         actor,
			TraceParent:   traceParent,
			TraceState:    traceState,
		},
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", httpapi.ETag(res.Version))
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		c.Response().Header().Set(echo.HeaderLocation, "/orders/"+res.OrderID.String())
	}
	return c.JSON(status, commandResult{OrderID: res.OrderID.String(), Version: res.Version, Position: res.Position.String()})
}

// decode reads the request body into v (see httpapi.DecodeJSON).
func decode(c echo.Context, v any) error {
	body, err := httpapi.ReadBody(c.Request())
	if err != nil {
		return err
	}
	return httpapi.DecodeJSON(body, v)
}

// orderID reads the :id path parameter; an invalid one is a 400 on the field "id".
func orderID(c echo.Context) (uuid.UUID, error) {
	raw, err := pathParam(c, "id")
	if err == nil {
		var id uuid.UUID
		if id, err = parseUUID(raw); err == nil {
			return id, nil
		}
	}
	var f httpapi.Fields
	f.Add("id", err)
	return uuid.Nil, f.Err()
}

// errInvalidUUID says what an order ID must look like.
func errInvalidUUID() error {
	return errors.New("must be a UUID in its canonical form, such as 0b9f3c56-6f1e-4c8e-9a57-2d5b6c0f7e21, and not the nil UUID")
}

// parseUUID accepts the canonical 36-character form only (uuid.Parse also takes braces, URNs and no
// hyphens): one order, one spelling. The nil UUID is no order's.
func parseUUID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, errInvalidUUID()
	}
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, errInvalidUUID()
	}
	return id, nil
}

// pathParam returns a path parameter decoded. Echo matches on the escaped path when the request's
// path has escapes that its default encoding would not produce, and leaves the parameter escaped
// then.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", errors.New("is not a valid path segment")
	}
	return u, nil
}
