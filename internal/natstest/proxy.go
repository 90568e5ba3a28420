package natstest

import (
	"net"
	"strings"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a real server whose traffic a test can
// freeze: its connections stay open but carry nothing either way, as when the
// network path to the server or the server itself stalls. Clients see no
// disconnection, only requests, acks and flushes that never come back.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	thaw   chan struct{} // closed while traffic flows
	conns  []net.Conn
	closed bool
	held   int // chunks read and waiting for a thaw
}

// NewProxy listens on a free loopback port and forwards every connection to
// target (host:port or nats://host:port). It is closed at test cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: strings.TrimPrefix(target, "nats://"), thaw: make(chan struct{})}
	close(p.thaw)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// URL returns the proxy's client URL ("nats://127.0.0.1:port").
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Freeze stops forwarding: what either side sends is held until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thaw:
		p.thaw = make(chan struct{})
	default: // already frozen
	}
}

// Thaw forwards again, held data first.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thaw:
	default:
		close(p.thaw)
	}
}

// Held returns how many chunks of data, from either side, wait for a thaw:
// a test sees by it that a request reached the frozen path.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.Thaw()
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		p.conns = append(p.conns, client, server)
		p.mu.Unlock()
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

// pipe copies from src to dst, holding each chunk while frozen.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			thaw := p.thaw
			p.held++
			p.mu.Unlock()
			<-thaw
			p.mu.Lock()
			p.held--
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
