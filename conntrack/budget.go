package conntrack

import (
	"net/netip"
	"sync"
)

// Budget counts the pinholes held per client address and in total, for
// the client and total limits of a Policy. Trackers that serve the same
// table (one per queue) share one Budget, so the limits hold across
// queues. It is safe for concurrent use.
type Budget struct {
	mu        sync.Mutex
	perClient map[netip.Addr]int
	total     int
}

// NewBudget returns an empty Budget.
func NewBudget() *Budget { return &Budget{perClient: make(map[netip.Addr]int)} }

// take reserves one pinhole for client, counting credit pinholes of the
// caller's that it is about to close as free. It returns the limit that
// refused it, or ReasonNone.
func (b *Budget) take(client netip.Addr, credit int, pol *Policy) Reason {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perClient[client]-credit >= pol.MaxClientPinholes {
		return ReasonClientLimit
	}
	if b.total-credit >= pol.MaxTotalPinholes {
		return ReasonTotalLimit
	}
	b.perClient[client]++
	b.total++
	return ReasonNone
}

// give returns a pinhole of client.
func (b *Budget) give(client netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.perClient[client] - 1
	if n <= 0 {
		delete(b.perClient, client)
	} else {
		b.perClient[client] = n
	}
	if b.total > 0 {
		b.total--
	}
}

// Held returns the pinholes held by client and in total.
func (b *Budget) Held(client netip.Addr) (mine, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.perClient[client], b.total
}

// Clients is the number of client addresses holding pinholes.
func (b *Budget) Clients() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.perClient)
}
