package gateway

import (
	"io"
	"net/netip"
	"slices"
	"testing"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
)

// TestCtEventUse: ctEvent reports an event as of use exactly when it is
// one the event socket's filter is built to pass (a control connection's,
// or a NEW event with the pinhole mark), so that
// ftpalg_conntrack_events_ignored_total counts what the filter let
// through for nothing.
func TestCtEventUse(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	d := w.d
	other := conntrack.Tuple{Src: netip.MustParseAddrPort("10.0.0.2:443"), Dst: client}
	ctl := ctnetlink.Info{Proto: 6, Orig: conntrack.Tuple{Src: client, Dst: netip.MustParseAddrPort("203.0.113.1:21")},
		Reply: conntrack.Tuple{Src: server, Dst: client}}
	data := ctnetlink.Info{Proto: 6, Orig: conntrack.Tuple{Src: client, Dst: netip.MustParseAddrPort("203.0.113.1:443")}, Reply: other}
	marked := data
	marked.Mark = d.cfg.Pinhole.Mark | 1
	for _, c := range []struct {
		name string
		e    ctnetlink.Event
		use  bool
	}{
		{"control new", ctnetlink.Event{Type: ctnetlink.EventNew, Info: ctl}, true},
		{"control destroy", ctnetlink.Event{Type: ctnetlink.EventDestroy, Info: ctl}, true},
		{"marked new", ctnetlink.Event{Type: ctnetlink.EventNew, Info: marked}, true},
		{"marked destroy", ctnetlink.Event{Type: ctnetlink.EventDestroy, Info: marked}, false},
		{"unmarked new", ctnetlink.Event{Type: ctnetlink.EventNew, Info: data}, false},
		{"unmarked destroy", ctnetlink.Event{Type: ctnetlink.EventDestroy, Info: data}, false},
	} {
		if got := d.ctEvent(c.e); got != c.use {
			t.Errorf("%s: of use %v, want %v", c.name, got, c.use)
		}
	}
}

// TestEventFilter: the filter follows the control ports and the pinhole
// mark; only the benchmark's variable turns it off.
func TestEventFilter(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	d := w.d
	t.Setenv(unfilteredEnv, "")
	f := d.eventFilter([]uint16{21, 2121})
	if f == nil || !slices.Equal(f.ControlPorts, []uint16{21, 2121}) || f.Mark != d.cfg.Pinhole.Mark {
		t.Fatalf("filter %+v, want ports 21, 2121 and mark %#x", f, d.cfg.Pinhole.Mark)
	}
	t.Setenv(unfilteredEnv, "1")
	if f := d.eventFilter([]uint16{21}); f != nil {
		t.Fatalf("filter %+v with %s=1", f, unfilteredEnv)
	}
	t.Setenv(unfilteredEnv, "")
	many := make([]uint16, 4000)
	for i := range many {
		many[i] = uint16(i + 1)
	}
	if f := d.eventFilter(many); f != nil {
		t.Fatalf("a filter for 4000 control ports: the kernel would refuse it")
	}
	d.refilter([]uint16{21}) // no subscription (unit test): nothing to do, no panic
}
