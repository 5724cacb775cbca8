//go:build linux

package rules

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkApplyAnnouncement times what one announcement costs in the
// kernel's table: Table.Apply of one pinhole with its DNAT and SNAT
// mapping (one netlink batch: destroy and add in pin4, dnat4 and snat4),
// then, as when its data connection has consumed the elements, a Forget
// (no batch). Each iteration takes a new port, so no element is replaced.
// In a network namespace (root; FTPALG_E2E as for the other kernel tests).
//
//	go test -run='^$' -bench=ApplyAnnouncement -benchmem ./rules
func BenchmarkApplyAnnouncement(b *testing.B) {
	n := newNetns(b)
	tb := openIn(b, n, testSpec(HookForward))
	port := uint16(1024)
	for b.Loop() {
		pub := netip.AddrPortFrom(pub4.Addr(), port)
		srv := netip.AddrPortFrom(srv4.Addr(), port)
		p := natPin(uint64(port), cli4, pub, srv, fw4, 30*time.Second)
		if err := tb.Apply(Change{Add: []Pin{p}}); err != nil {
			b.Fatal(err)
		}
		if err := tb.Apply(Change{Forget: []uint64{p.ID}}); err != nil {
			b.Fatal(err)
		}
		port++
		if port == 0 {
			port = 1024
		}
	}
}

// TestApplyStaleElement: Apply adds the element of a key no live pin
// holds without destroying first. If the kernel has an element for that
// key after all, which Apply did not know of (here one added with nft),
// the batch is sent again with the destroy, and the pin's element
// replaces it; with the same data the add alone succeeds.
func TestApplyStaleElement(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	other := "10.0.0.99 . 50000"
	n.Run("nft", "add element inet ftpalg dnat4 { 198.51.100.7 . 203.0.113.10 . 50000 timeout 30s : "+other+" }")
	p := natPin(1, cli4, pub4, srv4, fw4, ttl30)
	if err := tb.Apply(Change{Add: []Pin{p}}); err != nil {
		t.Fatalf("Apply over a stale mapping with other data: %v", err)
	}
	if got := tb.StaleReplaced(); got != 1 {
		t.Errorf("StaleReplaced = %d, want 1 (the batch sent again with its destroys)", got)
	}
	e := elements(t, tb)
	if len(e.DNAT) != 1 || e.DNAT[0].ToDst != srv4 {
		t.Fatalf("DNAT %+v, want the one mapping to %v", e.DNAT, srv4)
	}

	// The same data: no error, no second send.
	pub := netip.AddrPortFrom(pub4.Addr(), 50001)
	srv := netip.AddrPortFrom(srv4.Addr(), 50001)
	n.Run("nft", "add element inet ftpalg dnat4 { 198.51.100.7 . 203.0.113.10 . 50001 timeout 30s : 10.0.0.5 . 50001 }")
	if err := tb.Apply(Change{Add: []Pin{natPin(2, cli4, pub, srv, fw4, ttl30)}}); err != nil {
		t.Fatalf("Apply over a stale mapping with the same data: %v", err)
	}
	if got := tb.StaleReplaced(); got != 1 {
		t.Errorf("StaleReplaced = %d, want still 1", got)
	}
	e = elements(t, tb)
	if len(e.DNAT) != 2 || e.DNAT[1].ToDst != srv {
		t.Fatalf("DNAT %+v, want a second mapping to %v", e.DNAT, srv)
	}
}
