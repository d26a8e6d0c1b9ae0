// Package orderctl is the operators' command line (cmd/orderctl). Its one command today, audit,
// prints an order's timeline from the query API's GET /orders/{id}/history: time, version, event,
// actor, correlation ID and the event's key fields, as a table or as JSON.
//
// It talks to the query API over HTTP rather than to the event store: the API already holds the
// store's credentials, timeouts and circuit breaker, reads PostgreSQL and EventStoreDB alike, and is
// where access control is enforced. An operator needs a URL, not database credentials, and sees
// exactly what the API's clients see.
package orderctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// DefaultQueryAPI is the query API's address when neither --query-api nor QUERY_API_URL gives one.
const DefaultQueryAPI = "http://127.0.0.1:8081"

// Exit statuses.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and failed: unknown order, API unavailable
	ExitUsage = 2 // bad arguments
)

// maxPages bounds how many pages of history audit follows: 1,000 events each.
const maxPages = 1000

// Run runs the command line args (without the program name), writing results to stdout and
// diagnostics to stderr, and returns the exit status. getenv reads the environment (QUERY_API_URL).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	switch args[0] {
	case "audit":
		return audit(ctx, args[1:], stdout, stderr, getenv)
	default:
		fmt.Fprintf(stderr, "orderctl: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
}

const usage = `Usage: orderctl <command> [arguments]

Commands:
  audit <order-id> [--from-version N] [--json] [--query-api URL] [--token T] [--timeout D]
        Print the order's timeline from the event store, through the query API: time, version,
        event, actor, correlation ID and key fields. --json prints the events as the API gives them.

The query API is --query-api, else QUERY_API_URL, else ` + DefaultQueryAPI + `. Where it requires
authentication, give a bearer token (staff or admin, or the order's customer) with --token or ORDERFLOW_TOKEN.
`

func audit(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("orderctl audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		from    = fs.Uint64("from-version", 1, "the first version to print")
		asJSON  = fs.Bool("json", false, "print the events as JSON")
		apiURL  = fs.String("query-api", "", "the query API's base URL (default QUERY_API_URL, else "+DefaultQueryAPI+")")
		token   = fs.String("token", "", "the bearer token to send (default ORDERFLOW_TOKEN)")
		timeout = fs.Duration("timeout", 30*time.Second, "the whole command's deadline")
	)
	// The order ID may come before or after the flags.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fmt.Fprintln(stderr, "orderctl audit: want exactly one order ID")
		return ExitUsage
	}
	id, err := uuid.Parse(positional[0])
	if err != nil || len(positional[0]) != 36 {
		fmt.Fprintf(stderr, "orderctl audit: %q is not an order ID (a UUID such as 0b9f3c56-6f1e-4c8e-9a57-2d5b6c0f7e21)\n", positional[0])
		return ExitUsage
	}
	if *from < 1 {
		fmt.Fprintln(stderr, "orderctl audit: --from-version must be 1 or more")
		return ExitUsage
	}
	base := *apiURL
	if base == "" {
		base = getenv("QUERY_API_URL")
	}
	if base == "" {
		base = DefaultQueryAPI
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "orderctl audit: the query API's URL must be http:// or https:// with a host, got %q\n", base)
		return ExitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *token == "" {
		*token = getenv("ORDERFLOW_TOKEN")
	}
	api := &client{base: strings.TrimRight(base, "/"), token: *token, http: http.DefaultClient}
	events, err := api.history(ctx, id, *from)
	if err != nil {
		fmt.Fprintln(stderr, "orderctl audit: "+err.Error())
		return ExitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			OrderID uuid.UUID `json:"order_id"`
			Events  []Event   `json:"events"`
		}{id, events})
	} else {
		err = WriteTable(stdout, events)
	}
	if err != nil {
		fmt.Fprintln(stderr, "orderctl audit: "+err.Error())
		return ExitFail
	}
	return ExitOK
}

// Event is one event of GET /orders/{id}/history, as this command reads it.
type Event struct {
	Version       uint64          `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Position      string          `json:"position"`
	Data          json.RawMessage `json:"data"`
	Metadata      struct {
		EventID       string  `json:"event_id"`
		CorrelationID *string `json:"correlation_id"`
		CausationID   *string `json:"causation_id"`
		Actor         *string `json:"actor"`
		Command       *string `json:"command"`
	} `json:"metadata"`
	Changes []struct {
		Field string `json:"field"`
		Value string `json:"value"`
	} `json:"changes"`
}

// WriteTable prints events as an aligned table, one line each.
func WriteTable(w io.Writer, events []Event) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tVERSION\tEVENT\tACTOR\tCORRELATION ID\tKEY FIELDS")
	for _, e := range events {
		fields := make([]string, len(e.Changes))
		for i, c := range e.Changes {
			fields[i] = c.Field + "=" + c.Value
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n",
			e.RecordedAt.UTC().Format("2006-01-02T15:04:05.000Z"), e.Version, cell(e.Type),
			cell(deref(e.Metadata.Actor)), cell(deref(e.Metadata.CorrelationID)), cell(strings.Join(fields, " ")))
	}
	return tw.Flush()
}

// cell makes a value safe for one table cell: control characters (tabs and newlines among them)
// would break the alignment or the line, so they become spaces; an empty value is "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// client reads the query API.
type client struct {
	base  string
	token string // bearer token; empty sends none
	http  *http.Client
}

// history reads all of the order's events from version from on, following the API's pages.
func (c *client) history(ctx context.Context, id uuid.UUID, from uint64) ([]Event, error) {
	next := "/orders/" + id.String() + "/history?" + url.Values{
		"from_version": {strconv.FormatUint(from, 10)}, "limit": {"1000"},
	}.Encode()
	var events []Event
	for range maxPages {
		var page struct {
			Events []Event `json:"events"`
			Next   *string `json:"next"`
		}
		if err := c.get(ctx, next, &page); err != nil {
			return nil, err
		}
		events = append(events, page.Events...)
		if page.Next == nil {
			return events, nil
		}
		next = *page.Next
	}
	return nil, fmt.Errorf("order %s has more than %d pages of history", id, maxPages)
}

// get reads a JSON resource into v; a problem response becomes an error with its title and detail.
func (c *client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("query API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("query API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return problemError(resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("query API: unexpected answer: %w", err)
	}
	return nil
}

func problemError(resp *http.Response, body []byte) error {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/problem+json" {
		_ = json.Unmarshal(body, &p)
	}
	if p.Title == "" {
		p.Title = resp.Status
	}
	msg := "query API answered " + strconv.Itoa(resp.StatusCode) + ": " + p.Title
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return errors.New(msg)
}
