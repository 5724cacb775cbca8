package gateway

import (
	"net/netip"
	"testing"

	"github.com/ftpalg/ftpalg/conntrack"
)

// A burst of control messages far larger than any channel buffer reaches
// the worker whole and in order, and the sender never waits.
func TestCtlBoxKeepsBursts(t *testing.T) {
	for _, n := range []int{1, 1024, 1025, 50000} {
		var b ctlBox
		b.wake = make(chan struct{}, 1)
		for i := range n {
			b.put(ctlMsg{kind: ctlEndFlow, id: uint64(i), flow: conntrack.Flow{Client: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.10"), uint16(i))}})
		}
		select {
		case <-b.wake:
		default:
			t.Fatalf("n=%d: no wake-up after put", n)
		}
		got := b.take(nil)
		if len(got) != n {
			t.Fatalf("n=%d: took %d messages", n, len(got))
		}
		for i, m := range got {
			if m.id != uint64(i) || m.flow.Client.Port() != uint16(i) {
				t.Fatalf("n=%d: message %d is %+v", n, i, m)
			}
		}
		if again := b.take(got); len(again) != 0 {
			t.Fatalf("n=%d: a second take returned %d messages", n, len(again))
		}
	}
}
