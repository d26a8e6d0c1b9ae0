package domain

import "fmt"

// Currency is an active ISO 4217 alphabetic code, such as "EUR".
type Currency string

// ParseCurrency accepts an upper-case code from the list of active ISO 4217
// currencies below, or returns [ErrInvalidCurrency]. It does not upper-case
// its input: callers that accept "eur" normalise before parsing.
func ParseCurrency(s string) (Currency, error) {
	if !listed(currencyCodes, s, 3) {
		return "", fmt.Errorf("%w: got %q", ErrInvalidCurrency, s)
	}
	return Currency(s), nil
}

// currencyCodes is a snapshot of ISO 4217 List One for early 2026.
// Currencies already replaced by a successor (HRK and BGN by EUR, SLL by SLE,
// ZWL by ZWG, ANG by XCG) are left out even while ISO keeps them listed for a
// transition. So are the codes with no minor unit (precious metals,
// bond-market units, XDR, XSU, XUA, the test code XTS and "no currency"
// XXX): an order's money is a count of minor units, which they do not have.
//
// The list only gates new orders: events store the code as a string and
// Apply does not check it, so a withdrawn currency never makes an old order
// unreadable. Update it when ISO publishes an amendment.
const currencyCodes = "" +
	"AED AFN ALL AMD AOA ARS AUD AWG AZN " +
	"BAM BBD BDT BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK " +
	"DJF DKK DOP DZD " +
	"EGP ERN ETB EUR " +
	"FJD FKP " +
	"GBP GEL GHS GIP GMD GNF GTQ GYD " +
	"HKD HNL HTG HUF " +
	"IDR ILS INR IQD IRR ISK " +
	"JMD JOD JPY " +
	"KES KGS KHR KMF KPW KRW KWD KYD KZT " +
	"LAK LBP LKR LRD LSL LYD " +
	"MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN " +
	"NAD NGN NIO NOK NPR NZD " +
	"OMR " +
	"PAB PEN PGK PHP PKR PLN PYG " +
	"QAR " +
	"RON RSD RUB RWF " +
	"SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL " +
	"THB TJS TMT TND TOP TRY TTD TWD TZS " +
	"UAH UGX USD USN UYI UYU UYW UZS " +
	"VED VES VND VUV " +
	"WST " +
	"XAF XCD XCG XOF XPF " +
	"YER " +
	"ZAR ZMW ZWG "
