package queryapi

import _ "embed"

// openAPIDocument is the API's OpenAPI 3.1 document. It is the contract clients code against, kept
// next to the routes so that a change to one shows up in the review of the other.
//
//go:embed openapi.json
var openAPIDocument []byte
