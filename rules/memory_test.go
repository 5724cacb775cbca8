package rules

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// TestMemoryPinholeIsOneShotAndExpires: effects through the Translator
// into Memory, as replay does.
func TestMemoryPinholeIsOneShotAndExpires(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1000, 0)
	ph := conntrack.Pinhole{Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddrPort("10.0.0.5:50000")}
	mp := conntrack.Mapping{Src: ph.Src, Dst: netip.MustParseAddrPort("203.0.113.10:50000"), ToDst: ph.Dst}
	var tr Translator
	ch := tr.Translate([]conntrack.Effect{
		{Kind: conntrack.EffOpenPinhole, ID: 1, Pinhole: ph, Timeout: 30 * time.Second},
		{Kind: conntrack.EffMapData, ID: 1, Mapping: mp, HasMap: true, Timeout: 30 * time.Second},
		{Kind: conntrack.EffOpenPinhole, ID: 2, Pinhole: ph, Timeout: 30 * time.Second},
		{Kind: conntrack.EffOpenPinhole, ID: 3, Pinhole: ph, Timeout: 30 * time.Second},
		{Kind: conntrack.EffClosePinhole, ID: 3, Pinhole: ph, Reason: conntrack.ReasonSuperseded},
	})
	if len(ch.Add) != 2 || len(ch.Remove) != 0 || !ch.Add[0].HasMap {
		t.Fatalf("change %+v: want pinholes 1 (mapped) and 2, 3 opened and closed at once never installed", ch)
	}
	if err := m.At(now).Apply(ch); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(Change{Add: []Pin{{ID: 4, Pinhole: ph}}}); err == nil {
		t.Fatal("pin without a timeout accepted")
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

// TestMemoryRangesAndResets: Memory models what Table installs for FTPS
// passive ranges (published behind DNAT) and for reset flows.
func TestMemoryRangesAndResets(t *testing.T) {
	m := NewMemory()
	now := time.Unix(1000, 0)
	client, server, public := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("203.0.113.10")
	flow := conntrack.Flow{Client: netip.MustParseAddrPort("198.51.100.7:40000"), Server: netip.MustParseAddrPort("10.0.0.5:21")}
	tr := Translator{ResetTimeout: 10 * time.Second}
	rng := conntrack.PortRange{Src: client, Dst: server, Public: public, Lo: 30000, Hi: 30100}
	ch := tr.Translate([]conntrack.Effect{
		{Kind: conntrack.EffOpenRange, ID: 7, Range: rng, Timeout: time.Hour},
		{Kind: conntrack.EffReset, Session: 3, Flow: flow},
	})
	if err := m.At(now).Apply(ch); err != nil {
		t.Fatal(err)
	}
	to := m.Translate(client, netip.AddrPortFrom(public, 30050), now)
	if to != netip.AddrPortFrom(server, 30050) {
		t.Fatalf("range translate to %v", to)
	}
	for i := 0; i < 2; i++ { // a range is not consumed
		if e, ok := m.Admit(client, to, now); !ok || e.ID != 7 {
			t.Fatalf("connection %d into the range: %v %v", i, e, ok)
		}
	}
	if _, ok := m.Admit(client, netip.AddrPortFrom(server, 30101), now); ok {
		t.Fatal("port above the range admitted")
	}
	if !m.Rejected(flow, now) || m.Rejected(flow, now.Add(10*time.Second)) {
		t.Fatal("the reset flow is not rejected for exactly its timeout")
	}
	if live := m.Live(); len(live) != 2 || live[1].ID != ResetID(3) || live[1].Kind != KindReset {
		t.Fatalf("live %+v", live)
	}
	if err := m.Apply(tr.Translate([]conntrack.Effect{{Kind: conntrack.EffCloseRange, ID: 7, Range: rng}})); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Admit(client, to, now); ok {
		t.Fatal("closed range admits")
	}
}
