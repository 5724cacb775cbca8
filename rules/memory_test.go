package rules

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

func TestMemoryPinholeIsOneShotAndExpires(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1000, 0)
	ph := conntrack.Pinhole{Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddrPort("10.0.0.5:50000")}
	mp := conntrack.Mapping{Src: ph.Src, Dst: netip.MustParseAddrPort("203.0.113.10:50000"), ToDst: ph.Dst}
	for _, e := range []conntrack.Effect{
		{Kind: conntrack.EffOpenPinhole, ID: 1, Pinhole: ph, Timeout: 30 * time.Second},
		{Kind: conntrack.EffMapData, ID: 1, Mapping: mp, HasMap: true, Timeout: 30 * time.Second},
		{Kind: conntrack.EffOpenPinhole, ID: 2, Pinhole: ph, Timeout: 30 * time.Second},
	} {
		if err := m.Apply(e, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Apply(conntrack.Effect{Kind: conntrack.EffOpenPinhole, ID: 1}, now); err == nil {
		t.Fatal("duplicate pinhole accepted")
	}
	if got := m.Translate(ph.Src, mp.Dst, now); got != ph.Dst {
		t.Fatalf("translate to %v", got)
	}
	if _, ok := m.Admit(netip.MustParseAddr("198.51.100.8"), ph.Dst, now); ok {
		t.Fatal("another client admitted")
	}
	if _, ok := m.Admit(ph.Src, netip.MustParseAddrPort("10.0.0.5:50001"), now); ok {
		t.Fatal("neighbouring port admitted")
	}
	if e, ok := m.Admit(ph.Src, ph.Dst, now); !ok || e.ID != 1 {
		t.Fatalf("first connection: %v %v", e, ok)
	}
	if m.Len() != 1 {
		t.Fatalf("pinhole 1 not consumed: %d left", m.Len())
	}
	if exp := m.Expire(now.Add(30 * time.Second)); len(exp) != 1 || exp[0].ID != 2 || m.Len() != 0 {
		t.Fatalf("expired %v, %d left", exp, m.Len())
	}
}
