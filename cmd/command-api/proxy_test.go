package main

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// proxy forwards TCP connections to a PostgreSQL server and can stop passing bytes, in both
// directions and for new connections too: to the service behind it the server hangs, which is what an
// outage looks like until timeouts fire. Nothing is refused or reset, so every store call ends by its
// deadline, deterministically.
type proxy struct {
	url string // the upstream connection string, pointed at the proxy

	mu     sync.Mutex
	open   *sync.Cond
	paused bool
	closed bool
	conns  []net.Conn
}

func newProxy(t *testing.T, upstreamURL string) *proxy {
	t.Helper()
	u, err := url.Parse(upstreamURL)
	if err != nil {
		t.Fatal(err)
	}
	upstream := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	p := &proxy{url: u.String()}
	p.open = sync.NewCond(&p.mu)

	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", upstream)
			if err != nil {
				client.Close()
				continue
			}
			if !p.track(client, server) {
				return
			}
			wg.Go(func() { p.pipe(server, client) })
			wg.Go(func() { p.pipe(client, server) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closed = true
		for _, c := range p.conns {
			c.Close()
		}
		p.open.Broadcast()
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// pipe copies src to dst, holding each chunk while the proxy is paused.
func (p *proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.paused && !p.closed {
				p.open.Wait()
			}
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF, or the other side closed
			return
		}
	}
}

func (p *proxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
}

func (p *proxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
	p.open.Broadcast()
}
