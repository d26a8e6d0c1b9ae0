package domain

// CustomerID identifies the customer an order belongs to. The domain treats
// it as opaque: it comes from the identity system, not from this package.
type CustomerID string

// NewCustomerID accepts 1 to 64 characters with no control characters and no
// surrounding space, or returns [ErrInvalidCustomerID].
func NewCustomerID(s string) (CustomerID, error) {
	if err := checkText(ErrInvalidCustomerID, s, 1, 64); err != nil {
		return "", err
	}
	return CustomerID(s), nil
}
