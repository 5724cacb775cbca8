package conntrack

import (
	"net/netip"
	"sync"
)

// Flow names a control connection as the inspector sees its packets:
// the client's and the server's address and port.
type Flow struct {
	Client netip.AddrPort
	Server netip.AddrPort
}

func (f Flow) String() string { return f.Client.String() + " -> " + f.Server.String() }

// Tuple is one direction of a connection as the kernel's conntrack
// reports it.
type Tuple struct {
	Src, Dst netip.AddrPort
}

// Tuples are the control connection's original (client to server, as the
// client sent it) and reply (server to client, as the server sends it)
// tuples. Without NAT, Reply is Orig reversed.
//
//   - Orig.Src: the client's own address. Orig.Dst: the server as the
//     client sees it (public, before DNAT).
//   - Reply.Src: the server's own address. Reply.Dst: the client as the
//     server sees it (after SNAT/masquerade).
type Tuples struct {
	Orig, Reply Tuple
}

// IdentityTuples are the tuples of a connection that is not translated.
func IdentityTuples(f Flow) Tuples {
	return Tuples{
		Orig:  Tuple{Src: f.Client, Dst: f.Server},
		Reply: Tuple{Src: f.Server, Dst: f.Client},
	}
}

// NATLookup reports the kernel's tuples for a control connection, and
// false when it cannot tell (the inspector then treats the connection as
// untranslated). A session asks only when an announcement needs the
// tuples, until it gets an answer, on the Tracker's goroutine; an
// implementation may take the time of one kernel query there, never more.
type NATLookup interface {
	Lookup(Flow) (Tuples, bool)
}

// PortRegistry hands out public data ports for NAT mappings so that two
// mappings never claim the same public address and port. One registry may
// be shared by several Trackers (one per queue); it is safe for concurrent
// use. mu guards used.
type PortRegistry struct {
	mu   sync.Mutex
	used map[netip.AddrPort]uint64
}

// NewPortRegistry returns an empty registry.
func NewPortRegistry() *PortRegistry {
	return &PortRegistry{used: make(map[netip.AddrPort]uint64)}
}

// Reserve claims a public port on addr for pinhole id, preferring want,
// then the ports after it (wrapping within min-65535), trying at most
// portTries ports. It returns false when none is free.
func (r *PortRegistry) Reserve(addr netip.Addr, want, min uint16, id uint64) (uint16, bool) {
	return r.ReserveFit(addr, want, min, id, nil)
}

// ReserveFit is Reserve, preferring the ports for which fit (if not nil)
// is true: want if it fits, else the first free port after it (wrapping
// within min-65535) that fits, trying at most portTries ports that fit.
// Only when none is found does it fall back to Reserve's choice, and the
// second result then still reports whether a port was reserved.
func (r *PortRegistry) ReserveFit(addr netip.Addr, want, min uint16, id uint64, fit func(uint16) bool) (uint16, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if min == 0 {
		min = 1
	}
	if fit != nil {
		if p, ok := r.scan(addr, max(want, min), min, id, fit); ok {
			return p, true
		}
	}
	return r.scan(addr, want, min, id, nil)
}

// scan claims the first free port from p on (wrapping to min after 65535)
// for which fit (nil: any) is true, trying at most portTries such ports.
// r.mu is held.
func (r *PortRegistry) scan(addr netip.Addr, p, min uint16, id uint64, fit func(uint16) bool) (uint16, bool) {
	tries := 0
	for i := 0; i <= 65535 && tries < portTries; i++ {
		if fit == nil || fit(p) {
			tries++
			ap := netip.AddrPortFrom(addr, p)
			if _, taken := r.used[ap]; !taken {
				r.used[ap] = id
				return p, true
			}
		}
		if p == 65535 {
			p = min
		} else {
			p++
		}
	}
	return 0, false
}

// Release frees ap if pinhole id holds it.
func (r *PortRegistry) Release(ap netip.AddrPort, id uint64) {
	r.mu.Lock()
	if r.used[ap] == id {
		delete(r.used, ap)
	}
	r.mu.Unlock()
}

// Len is the number of reserved ports.
func (r *PortRegistry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.used)
}

const portTries = 256

// plan is what an accepted announcement becomes.
type plan struct {
	pinhole  Pinhole
	mapping  Mapping
	hasMap   bool           // the data connection needs NAT
	dnat     bool           // announce differs from the listener's own endpoint: reserve it
	announce netip.AddrPort // what the peer must be told
}

// planActive plans a PORT/EPRT announcement of ap by the client: the
// server will connect to the client.
func planActive(t Tuples, ap netip.AddrPort) plan {
	// The server is told the client's address as the server sees it; the
	// server's connection must look, to the client, as coming from the
	// server's address as the client sees it.
	return planData(t.Reply.Src.Addr(), t.Orig.Dst.Addr(), netip.AddrPortFrom(t.Orig.Src.Addr(), ap.Port()), t.Reply.Dst.Addr())
}

// planPassive plans a 227/229 announcement of ap by the server: the client
// will connect to the server.
func planPassive(t Tuples, ap netip.AddrPort) plan {
	return planData(t.Orig.Src.Addr(), t.Reply.Dst.Addr(), netip.AddrPortFrom(t.Reply.Src.Addr(), ap.Port()), t.Orig.Dst.Addr())
}

// planData plans a data connection from initiator (its own address;
// initiatorSeen is how the listener sees it) to listener (its own endpoint;
// listenerSeen is the address the initiator knows it by).
func planData(initiator, initiatorSeen netip.Addr, listener netip.AddrPort, listenerSeen netip.Addr) plan {
	p := plan{
		pinhole:  Pinhole{Src: initiator, Dst: listener},
		announce: netip.AddrPortFrom(listenerSeen, listener.Port()),
	}
	p.dnat = listenerSeen != listener.Addr()
	snat := initiatorSeen != initiator
	if p.dnat || snat {
		p.hasMap = true
		p.mapping = Mapping{Src: initiator, Dst: p.announce, ToDst: listener}
		if snat {
			p.mapping.ToSrc = initiatorSeen
		}
	}
	return p
}
