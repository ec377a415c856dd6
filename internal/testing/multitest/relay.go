package multitest

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Mode is what a Relay does with the connections to its server.
type Mode int

// Modes of a Relay.
const (
	// Pass relays both ways.
	Pass Mode = iota
	// Refuse closes the port (a connection is refused) and resets the
	// connections already open, as when the server is killed.
	Refuse
	// Hang accepts connections and relays nothing either way, as from a
	// server that hangs or a network that drops every packet: a client
	// learns it only from its own timeouts.
	Hang
)

// String implements fmt.Stringer.
func (m Mode) String() string {
	switch m {
	case Refuse:
		return "refuse"
	case Hang:
		return "hang"
	}
	return "pass"
}

// Relay is a TCP relay on a loopback port of its own in front of a server
// (Redis): the faults of the network between one instance and it. Create
// one with NewRelay; Close it.
type Relay struct {
	// Addr is the relay's address, host:port; it keeps it in every mode.
	Addr string
	to   string

	mu     sync.Mutex // protects the fields below
	mode   Mode
	ln     net.Listener // nil while refusing
	conns  map[net.Conn]struct{}
	resume chan struct{} // closed when a Hang ends
	closed bool
}

// NewRelay starts a relay to the server at to (host:port).
func NewRelay(to string) (*Relay, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	r := &Relay{Addr: addr, to: to, conns: map[net.Conn]struct{}{}, resume: make(chan struct{})}
	close(r.resume)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r, r.listen()
}

// URL is the -redis flag's value for a Redis behind r.
func (r *Relay) URL() string { return "redis://" + r.Addr + "/0" }

// Set switches r to mode m.
func (r *Relay) Set(m Mode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || m == r.mode {
		return nil
	}
	if r.mode == Hang {
		close(r.resume)
	}
	r.mode = m
	switch m {
	case Refuse:
		r.ln.Close()
		r.ln = nil
		r.reset()
	case Hang:
		r.resume = make(chan struct{})
	}
	if r.ln == nil && m != Refuse {
		return r.listen()
	}
	return nil
}

// Close stops r and resets its connections.
func (r *Relay) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	if r.mode == Hang {
		close(r.resume)
	}
	if r.ln != nil {
		r.ln.Close()
	}
	r.reset()
}

// listen opens r's port again; r.mu is held.
func (r *Relay) listen() error {
	ln, err := net.Listen("tcp", r.Addr)
	if err != nil {
		return err
	}
	r.ln = ln
	go r.accept(ln)
	return nil
}

// reset closes every open connection with a reset (no linger); r.mu is
// held.
func (r *Relay) reset() {
	for c := range r.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		delete(r.conns, c)
	}
}

func (r *Relay) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		go r.serve(c)
	}
}

// serve relays one client connection to the server.
func (r *Relay) serve(client net.Conn) {
	server, err := net.Dial("tcp", r.to)
	if err != nil {
		client.Close()
		return
	}
	if !r.track(client, server) {
		return
	}
	done := make(chan struct{}, 2)
	go func() { r.copy(server, client); done <- struct{}{} }()
	go func() { r.copy(client, server); done <- struct{}{} }()
	<-done
	r.untrack(client, server)
}

// track records a relayed pair, unless r refuses or is closed.
func (r *Relay) track(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.mode == Refuse {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		r.conns[c] = struct{}{}
	}
	return true
}

func (r *Relay) untrack(conns ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(r.conns, c)
	}
}

// copy relays src to dst chunk by chunk; while r hangs, a chunk waits
// (undelivered) until the hang ends.
func (r *Relay) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			resume := r.resume
			r.mu.Unlock()
			<-resume
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
