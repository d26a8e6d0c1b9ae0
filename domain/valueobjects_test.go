package domain

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// textCase is one input to a string constructor; ok says whether it is
// accepted.
type textCase struct {
	name string
	in   string
	ok   bool
}

func runText[T ~string](t *testing.T, newFn func(string) (T, error), sentinel error, cases []textCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newFn(tc.in)
			if tc.ok {
				if err != nil || string(got) != tc.in {
					t.Fatalf("(%q) = %q, %v; want it accepted unchanged", tc.in, got, err)
				}
				return
			}
			if !errors.Is(err, sentinel) {
				t.Fatalf("(%q) error = %v, want %v", tc.in, err, sentinel)
			}
			if got != "" {
				t.Fatalf("(%q) returned %q alongside an error", tc.in, got)
			}
		})
	}
}

// lengthCases checks min..max counting runes: "é" is two bytes, one rune.
func lengthCases(min, max int) []textCase {
	cases := []textCase{
		{name: "max ascii", in: strings.Repeat("a", max), ok: true},
		{name: "max runes, twice as many bytes", in: strings.Repeat("é", max), ok: true},
		{name: "max+1 runes", in: strings.Repeat("é", max+1)},
		{name: "min", in: strings.Repeat("x", min), ok: true},
	}
	if min > 0 {
		cases = append(cases, textCase{name: "empty", in: ""})
	}
	return cases
}

// shapeCases are the rules all free text shares.
var shapeCases = []textCase{
	{name: "inner space", in: "a b", ok: true},
	{name: "non-latin", in: "東京 Straße", ok: true},
	{name: "leading space", in: " a"},
	{name: "trailing space", in: "a "},
	{name: "trailing non-breaking space", in: "a\u00a0"},
	{name: "only spaces", in: "   "},
	{name: "newline", in: "a\nb"},
	{name: "nul", in: "a\x00b"},
	{name: "DEL", in: "a\x7fb"},
	{name: "invalid utf-8", in: "a\xffb"},
}

func TestNewCustomerID(t *testing.T) {
	runText(t, NewCustomerID, ErrInvalidCustomerID, append(lengthCases(1, 64), shapeCases...))
}

func TestNewSKU(t *testing.T) {
	runText(t, NewSKU, ErrInvalidSKU, append(append(lengthCases(1, 64), shapeCases...),
		textCase{name: "punctuation", in: "MUG-RED/XL_2", ok: true},
		textCase{name: "tab", in: "A\tB"},
		textCase{name: "inner non-breaking space is not printable", in: "A\u00a0B"},
		textCase{name: "zero-width space", in: "A\u200bB"},
	))
}

func TestNewItemName(t *testing.T) {
	runText(t, NewItemName, ErrInvalidItemName, append(lengthCases(1, 200), shapeCases...))
}

func TestStringConstructors(t *testing.T) {
	type stringFn = func(string) (string, error)
	for _, c := range []struct {
		name     string
		fn       stringFn
		sentinel error
		max      int
	}{
		{"NewPaymentReference", NewPaymentReference, ErrInvalidPaymentReference, 100},
		{"NewCarrier", NewCarrier, ErrInvalidCarrier, 100},
		{"NewTrackingNumber", NewTrackingNumber, ErrInvalidTrackingNumber, 100},
		{"NewCancelReason", NewCancelReason, ErrInvalidCancelReason, 500},
	} {
		t.Run(c.name, func(t *testing.T) {
			runText(t, c.fn, c.sentinel, append(lengthCases(1, c.max), shapeCases...))
		})
	}
}

func TestNewQuantity(t *testing.T) {
	for _, tc := range []struct {
		in int64
		ok bool
	}{{math.MinInt64, false}, {-1, false}, {0, false}, {1, true}, {10_000, true}, {10_001, false}, {math.MaxInt64, false}} {
		got, err := NewQuantity(tc.in)
		if tc.ok && (err != nil || int64(got) != tc.in) {
			t.Errorf("NewQuantity(%d) = %d, %v; want it accepted", tc.in, got, err)
		}
		if !tc.ok && !errors.Is(err, ErrQuantityOutOfRange) {
			t.Errorf("NewQuantity(%d) error = %v, want ErrQuantityOutOfRange", tc.in, err)
		}
	}
}

func TestNewUnitPriceAndPaymentAmount(t *testing.T) {
	for _, tc := range []struct {
		in               int64
		unitOK, amountOK bool
	}{
		{math.MinInt64, false, false},
		{-1, false, false},
		{0, true, true},
		{1, true, true},
		{10_000_000_000, true, true},
		{10_000_000_001, false, true},
		{math.MaxInt64, false, true},
	} {
		got, err := NewUnitPrice(tc.in)
		if tc.unitOK && (err != nil || int64(got) != tc.in) {
			t.Errorf("NewUnitPrice(%d) = %d, %v; want it accepted", tc.in, got, err)
		}
		if !tc.unitOK && !errors.Is(err, ErrUnitPriceOutOfRange) {
			t.Errorf("NewUnitPrice(%d) error = %v, want ErrUnitPriceOutOfRange", tc.in, err)
		}
		got, err = NewPaymentAmount(tc.in)
		if tc.amountOK && (err != nil || int64(got) != tc.in) {
			t.Errorf("NewPaymentAmount(%d) = %d, %v; want it accepted", tc.in, got, err)
		}
		if !tc.amountOK && !errors.Is(err, ErrInvalidAmount) {
			t.Errorf("NewPaymentAmount(%d) error = %v, want ErrInvalidAmount", tc.in, err)
		}
	}
}

func TestMoney(t *testing.T) {
	m := NewMoney(1999, must(ParseCurrency("EUR")))
	if m.Amount() != 1999 || m.Currency() != "EUR" {
		t.Fatalf("NewMoney(1999, EUR) = %d %s", m.Amount(), m.Currency())
	}
	if m != NewMoney(1999, "EUR") || m == NewMoney(1999, "USD") {
		t.Fatal("Money compares by amount and currency")
	}
}

func TestParseCurrency(t *testing.T) {
	for _, ok := range []string{"EUR", "USD", "JPY", "BHD", "CHF", "AED", "ZWG", "XCG", "XOF", "CLF"} {
		if c, err := ParseCurrency(ok); err != nil || string(c) != ok {
			t.Errorf("ParseCurrency(%q) = %q, %v; want it accepted", ok, c, err)
		}
	}
	for _, bad := range []string{
		"", "eur", "Eur", "EU", "EURO", " EUR", "EUR ", "E R", "ABC", "AAA", "ZZZ", "ZWH",
		"HRK", "DEM", "VEF", // withdrawn
		"XAU", "XTS", "XXX", "XDR", // no minor unit
		"€", "EUR\x00",
	} {
		if c, err := ParseCurrency(bad); !errors.Is(err, ErrInvalidCurrency) || c != "" {
			t.Errorf("ParseCurrency(%q) = %q, %v; want ErrInvalidCurrency", bad, c, err)
		}
	}
}

func TestParseCountry(t *testing.T) {
	for _, ok := range []string{"AD", "DE", "GB", "US", "JP", "ZW", "AX", "SS", "CW", "BQ"} {
		if c, err := ParseCountry(ok); err != nil || string(c) != ok {
			t.Errorf("ParseCountry(%q) = %q, %v; want it accepted", ok, c, err)
		}
	}
	for _, bad := range []string{
		"", "de", "De", "D", "DEU", " DE", "D E",
		"UK", "EU", "XK", "AA", "ZZ", "QM", // reserved or user-assigned
		"AN", "YU", "CS", // withdrawn
		"ÄÖ",
	} {
		if c, err := ParseCountry(bad); !errors.Is(err, ErrInvalidCountry) || c != "" {
			t.Errorf("ParseCountry(%q) = %q, %v; want ErrInvalidCountry", bad, c, err)
		}
	}
}

// TestCodeLists checks the embedded tables themselves: the binary search
// needs them sorted, fixed-width and free of duplicates.
func TestCodeLists(t *testing.T) {
	for _, c := range []struct {
		name  string
		list  string
		width int
		count int
	}{
		{"currencies", currencyCodes, 3, 164},
		{"countries", countryCodes, 2, 249},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.list)%(c.width+1) != 0 {
				t.Fatalf("list length %d is not a multiple of %d", len(c.list), c.width+1)
			}
			codes := strings.SplitAfter(c.list, " ")
			codes = codes[:len(codes)-1] // SplitAfter leaves an empty tail
			if len(codes) != c.count {
				t.Errorf("%d codes, want %d", len(codes), c.count)
			}
			prev := ""
			for _, entry := range codes {
				code := strings.TrimSuffix(entry, " ")
				if len(entry) != c.width+1 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
					t.Fatalf("malformed entry %q", entry)
				}
				if code <= prev {
					t.Fatalf("%q follows %q: not sorted or duplicated", code, prev)
				}
				if !listed(c.list, code, c.width) {
					t.Errorf("listed(%q) = false for a listed code", code)
				}
				prev = code
			}
		})
	}
}

func TestNewAddress(t *testing.T) {
	a, err := NewAddress("Grace Hopper", "1 Navy Way", "", "Arlington", "22202", "US")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "Grace Hopper" || a.Line1() != "1 Navy Way" || a.Line2() != "" || a.City() != "Arlington" ||
		a.PostalCode() != "22202" || a.Country() != "US" {
		t.Fatalf("accessors return %+v", a)
	}

	valid := [6]string{"Name", "Line 1", "Line 2", "City", "12345", "DE"}
	long := func(n int) string { return strings.Repeat("ß", n) } // runes, not bytes
	for _, tc := range []struct {
		name   string
		field  int
		value  string
		errFor string // the FieldError.Field expected, "" when valid
	}{
		{"name at 200", 0, long(200), ""},
		{"name at 201", 0, long(201), "name"},
		{"empty name", 0, "", "name"},
		{"name with a control character", 0, "Ada\tLovelace", "name"},
		{"line1 at 200", 1, long(200), ""},
		{"empty line1", 1, "", "line1"},
		{"line1 at 201", 1, long(201), "line1"},
		{"empty line2", 2, "", ""},
		{"line2 at 200", 2, long(200), ""},
		{"line2 at 201", 2, long(201), "line2"},
		{"line2 of spaces", 2, "  ", "line2"},
		{"empty city", 3, "", "city"},
		{"city at 201", 3, long(201), "city"},
		{"postal code at 20", 4, long(20), ""},
		{"postal code at 21", 4, long(21), "postal_code"},
		{"empty postal code", 4, "", "postal_code"},
		{"lower-case country", 5, "de", "country"},
		{"unassigned country", 5, "XK", "country"},
		{"empty country", 5, "", "country"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := valid
			in[tc.field] = tc.value
			got, err := NewAddress(in[0], in[1], in[2], in[3], in[4], in[5])
			if tc.errFor == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if [6]string{got.Name(), got.Line1(), got.Line2(), got.City(), got.PostalCode(), string(got.Country())} != in {
					t.Fatalf("address %+v does not hold its input", got)
				}
				return
			}
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("error = %v, want ErrInvalidAddress", err)
			}
			if tc.errFor == "country" && !errors.Is(err, ErrInvalidCountry) {
				t.Fatalf("error = %v, want ErrInvalidCountry too", err)
			}
			if fields := fieldErrors(err); len(fields) != 1 || fields[0] != tc.errFor {
				t.Fatalf("field errors for %v, want [%s]", fields, tc.errFor)
			}
			if got != (Address{}) {
				t.Fatalf("returned %+v alongside an error", got)
			}
		})
	}

	t.Run("every bad field is reported", func(t *testing.T) {
		_, err := NewAddress("", "", long(201), "", "", "uk")
		want := []string{"name", "line1", "line2", "city", "postal_code", "country"}
		if got := fieldErrors(err); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("field errors for %v, want %v", got, want)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "name" || !strings.HasPrefix(fe.Error(), "name: ") {
			t.Fatalf("errors.As found %v", fe)
		}
	})
}

// fieldErrors lists the Field of every *FieldError joined in err.
func fieldErrors(err error) []string {
	var fields []string
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			fields = append(fields, fe.Field)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return fields
}
