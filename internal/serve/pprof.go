package serve

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// errPprofAddr is what CheckPprofAddr returns for an address profiles must not be served on.
var errPprofAddr = errors.New("want a loopback host:port such as 127.0.0.1:6060")

// CheckPprofAddr accepts only loopback addresses: profiles reveal the program's internals and a
// CPU profile costs a few percent while it runs, so they are for someone already on the machine.
func CheckPprofAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return errPprofAddr
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errPprofAddr
	}
	return nil
}

// Pprof serves net/http/pprof's handlers under /debug/pprof/ on addr, a listener of its own, so that
// the service's own port never exposes them. It returns once listening; stop closes the listener and
// waits for the server to end.
func Pprof(addr string, log *slog.Logger) (stop func(), err error) {
	if err := CheckPprofAddr(addr); err != nil {
		return nil, fmt.Errorf("pprof address %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves heap, goroutine, allocs, block, mutex
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or trace streams for as long as its ?seconds= asks.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	log.Info("serving pprof", "addr", ln.Addr().String())
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
