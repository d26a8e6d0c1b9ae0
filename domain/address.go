package domain

import (
	"errors"
	"fmt"
)

// Address is a validated postal address.
type Address struct {
	name       string
	line1      string
	line2      string
	city       string
	postalCode string
	country    Country
}

// NewAddress validates every field: name, line1 and city 1 to 200
// characters, line2 at most 200 (it may be empty), postalCode 1 to 20, and
// country via [ParseCountry]. On failure it returns errors.Join of one
// *[FieldError] per bad field, so every problem is reported at once; each
// wraps [ErrInvalidAddress].
func NewAddress(name, line1, line2, city, postalCode, country string) (Address, error) {
	var errs []error
	check := func(field, s string, min, max int) {
		if p := textProblem(s, min, max); p != "" {
			errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf("%w: %s", ErrInvalidAddress, p)})
		}
	}
	check("name", name, 1, 200)
	check("line1", line1, 1, 200)
	check("line2", line2, 0, 200)
	check("city", city, 1, 200)
	check("postal_code", postalCode, 1, 20)
	c, err := ParseCountry(country)
	if err != nil {
		errs = append(errs, &FieldError{Field: "country", Err: fmt.Errorf("%w: %w", ErrInvalidAddress, err)})
	}
	if len(errs) > 0 {
		return Address{}, errors.Join(errs...)
	}
	return Address{name: name, line1: line1, line2: line2, city: city, postalCode: postalCode, country: c}, nil
}

func (a Address) Name() string       { return a.name }
func (a Address) Line1() string      { return a.line1 }
func (a Address) Line2() string      { return a.line2 }
func (a Address) City() string       { return a.city }
func (a Address) PostalCode() string { return a.postalCode }
func (a Address) Country() Country   { return a.country }

// revalidate checks a again. Address{} is a usable zero value outside this
// package, so a decision cannot assume its Address came from NewAddress.
func (a Address) revalidate() error {
	_, err := NewAddress(a.name, a.line1, a.line2, a.city, a.postalCode, string(a.country))
	return err
}
