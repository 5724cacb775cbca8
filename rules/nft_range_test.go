//go:build linux

package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/google/nftables"
)

// Passive-range pinholes (interval elements of a concatenation, with
// their rdnat translation) and reset flows go in and out like pinholes.
func TestApplyRangesAndResets(t *testing.T) {
	n := newNetns(t)
	tb := openIn(t, n, testSpec(HookForward))
	r4 := Pin{ID: 10, Kind: KindRange, Timeout: ttl30, Range: conntrack.PortRange{
		Src: cli4, Dst: srv4.Addr(), Lo: 30000, Hi: 30031, Public: pub4.Addr()}}
	r6 := Pin{ID: 11, Kind: KindRange, Timeout: ttl30, Range: conntrack.PortRange{
		Src: cli6, Dst: srv6.Addr(), Lo: 40000, Hi: 40000}}
	flow := conntrack.Flow{Client: netip.AddrPortFrom(cli4, 40123), Server: netip.AddrPortFrom(srv4.Addr(), 21)}
	rs := Pin{ID: 12, Kind: KindReset, Timeout: ttl30, Flow: flow}
	apply(t, tb, Change{Add: []Pin{r4, r6, rs}})

	e := elements(t, tb)
	var plain, mapped int
	for _, r := range e.Ranges {
		checkLife(t, r.Life, ttl30)
		switch {
		case r.ToDst.IsValid():
			mapped++
			if r.Src != cli4 || r.Dst != pub4.Addr() || r.Lo != 30000 || r.Hi != 30031 || r.ToDst != srv4.Addr() {
				t.Errorf("rdnat element %+v", r)
			}
		case r.Src == cli4:
			plain++
			if r.Dst != srv4.Addr() || r.Lo != 30000 || r.Hi != 30031 {
				t.Errorf("range4 element %+v", r)
			}
		default:
			plain++
			if r.Src != cli6 || r.Dst != srv6.Addr() || r.Lo != 40000 || r.Hi != 40000 {
				t.Errorf("range6 element %+v", r)
			}
		}
	}
	if plain != 2 || mapped != 1 {
		t.Errorf("ranges %+v: want 2 range and 1 rdnat elements", e.Ranges)
	}
	if len(e.Resets) != 2 {
		t.Fatalf("resets %+v, want both directions of %v", e.Resets, flow)
	}
	for _, r := range e.Resets {
		ok := r.Src == flow.Client && r.Dst == flow.Server || r.Src == flow.Server && r.Dst == flow.Client
		if !ok {
			t.Errorf("reset element %+v is not a direction of %v", r, flow)
		}
	}
	// The nft CLI decodes the layout independently.
	for _, tc := range []struct{ kind, name, want string }{
		{"set", "range4", "198.51.100.7 . 10.0.0.5 . 30000-30031 timeout 30s expires"},
		{"map", "rdnat4", "198.51.100.7 . 203.0.113.10 . 30000-30031 timeout 30s expires"},
		{"map", "rdnat4", ": 10.0.0.5"},
		{"set", "reset4", "198.51.100.7 . 10.0.0.5 . 40123 . 21 timeout 30s expires"},
		{"set", "reset4", "10.0.0.5 . 198.51.100.7 . 21 . 40123 timeout 30s expires"},
	} {
		if out := n.nft(t, "", "list", tc.kind, "inet", "ftpalg", tc.name); !strings.Contains(out, tc.want) {
			t.Errorf("nft list %s %s lacks %q:\n%s", tc.kind, tc.name, tc.want, out)
		}
	}
	// Rebuild keeps them.
	if err := tb.Rebuild([]Pin{r4, rs}); err != nil {
		t.Fatal(err)
	}
	if e := elements(t, tb); len(e.Ranges) != 2 || len(e.Resets) != 2 {
		t.Errorf("after Rebuild: %+v", e)
	}
	apply(t, tb, Change{Remove: []Pin{{ID: 10}, {ID: 12}}})
	if e := elements(t, tb); len(e.Ranges)+len(e.Resets) != 0 {
		t.Errorf("after Remove: %+v", e)
	}
}

// Open with pins builds the table with their elements in the same batch
// (the daemon's resets of an earlier run's resized sessions), and tracks
// them like applied pins: removing one by ID destroys its elements.
func TestOpenWithPins(t *testing.T) {
	n := newNetns(t)
	flow := conntrack.Flow{Client: netip.AddrPortFrom(cli4, 40123), Server: netip.AddrPortFrom(srv4.Addr(), 21)}
	rs := Pin{ID: 1<<63 | 1<<62 | 1, Kind: KindReset, Timeout: ttl30, Flow: flow}
	tb, err := openWith(testSpec(HookForward), []Pin{rs}, nftables.WithNetNSFd(n.fd))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tb.Close() })
	if e := elements(t, tb); len(e.Resets) != 2 {
		t.Fatalf("after Open with a reset pin: resets %+v, want both directions", e.Resets)
	}
	if _, err := openWith(testSpec(HookForward), []Pin{{ID: 2, Kind: KindReset, Timeout: ttl30}}, nftables.WithNetNSFd(n.fd)); err == nil || !strings.Contains(err.Error(), "reset flow") {
		t.Errorf("Open with an invalid pin: %v", err)
	}
	apply(t, tb, Change{Remove: []Pin{{ID: rs.ID}}})
	if e := elements(t, tb); len(e.Resets) != 0 {
		t.Fatalf("after removing the pin by ID: resets %+v", e.Resets)
	}
}
