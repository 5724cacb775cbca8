package rules

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Interface is the one seam in front of ftpalg's table: Table carries it
// out in the kernel, Memory models it (for replay and tests), with the
// same Changes (built from effects by Translator).
type Interface interface {
	// Apply carries out one decision's Change, all of it or none.
	Apply(Change) error
	// Live lists the elements the table holds (by its own clock), by ID.
	Live() []Pin
	// Present reports whether the table still exists (an "nft flush
	// ruleset" removes it).
	Present() (bool, error)
	// Rebuild builds the table afresh with pins.
	Rebuild([]Pin) error
}

var _ Interface = (*Table)(nil)

// Live lists the pins Apply added (or Open and Rebuild installed) that
// were neither removed nor, by the table's clock, expired, by ID, each
// with the time left until the kernel removes its elements. A pinhole the
// kernel consumed stays listed until it is forgotten (Change.Forget),
// removed or expires.
func (t *Table) Live() []Pin {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.livePins(time.Now())
}

// livePins is Live as of now. t.mu must be held.
func (t *Table) livePins(now time.Time) []Pin {
	out := make([]Pin, 0, len(t.live))
	for _, lp := range t.live {
		if now.Before(lp.deadline) {
			p := lp.pin
			p.Timeout = lp.deadline.Sub(now)
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Pin) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
