package ctnetlink

import (
	"net/netip"
	"testing"

	"github.com/ftpalg/ftpalg/conntrack"
)

func cacheInfo(clientPort uint16) Info {
	c := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.10"), clientPort)
	pub := netip.MustParseAddrPort("203.0.113.1:21")
	srv := netip.MustParseAddrPort("10.0.0.2:21")
	return Info{Proto: 6, Orig: conntrack.Tuple{Src: c, Dst: pub}, Reply: conntrack.Tuple{Src: srv, Dst: c}}
}

// TestCacheLimit: a full cache refuses new flows and counts them, still
// updates the flows it holds, and takes new ones again once one goes.
func TestCacheLimit(t *testing.T) {
	c := NewCache(2)
	for i, want := range []bool{true, true, false, false} {
		if got := c.Put(cacheInfo(40000 + uint16(i))); got != want {
			t.Fatalf("Put #%d = %v, want %v", i, got, want)
		}
	}
	if c.Len() != 2 || c.Refused() != 2 {
		t.Fatalf("Len %d, Refused %d; want 2 and 2", c.Len(), c.Refused())
	}
	upd := cacheInfo(40000)
	upd.Mark = 7
	if !c.Put(upd) {
		t.Fatal("a full cache refused an update of a flow it holds")
	}
	if got, _ := c.Get(upd.Flow()); got.Mark != 7 {
		t.Fatalf("update not kept: mark %d", got.Mark)
	}
	c.Delete(upd.Flow())
	if !c.Put(cacheInfo(40003)) {
		t.Fatal("a new flow was refused after one went")
	}
	if _, ok := c.Lookup(cacheInfo(40003).Flow()); !ok {
		t.Fatal("the new flow is not found")
	}
}
