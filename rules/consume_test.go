package rules

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// TestTranslatorForgetsUsedPins: of all the reasons a pinhole closes,
// only "used" means the kernel consumed its elements (the pin, and the
// dnat and snat elements in the NAT chains): the Translator forgets it
// and sends nothing. Every other close may find its elements still
// there and destroys them.
func TestTranslatorForgetsUsedPins(t *testing.T) {
	ph := conntrack.Pinhole{Src: netip.MustParseAddr("198.51.100.7"), Dst: netip.MustParseAddrPort("10.0.0.5:50000")}
	mp := conntrack.Mapping{Src: ph.Src, Dst: netip.MustParseAddrPort("203.0.113.10:50000"), ToDst: ph.Dst, ToSrc: netip.MustParseAddr("10.0.0.1")}
	for _, tc := range []struct {
		reason conntrack.Reason
		forget bool
	}{
		{conntrack.ReasonUsed, true},
		{conntrack.ReasonExpired, false},
		{conntrack.ReasonTransferDone, false},
		{conntrack.ReasonSessionEnd, false},
		{conntrack.ReasonSuperseded, false},
		{conntrack.ReasonWithdrawn, false},
		{conntrack.ReasonReinitialize, false},
		{conntrack.ReasonQuit, false},
		{conntrack.ReasonTooMany, false},
		{conntrack.ReasonReset, false},
	} {
		t.Run(tc.reason.String(), func(t *testing.T) {
			var tr Translator
			for _, hasMap := range []bool{true, false} {
				ch := tr.Translate([]conntrack.Effect{{Kind: conntrack.EffClosePinhole, ID: 5, Pinhole: ph, Mapping: mp, HasMap: hasMap, Reason: tc.reason}})
				if len(ch.Add) != 0 {
					t.Fatalf("mapped %v: adds %+v", hasMap, ch.Add)
				}
				switch {
				case tc.forget:
					if !slices.Equal(ch.Forget, []uint64{5}) || len(ch.Remove) != 0 || ch.Sends() || ch.Empty() {
						t.Errorf("mapped %v: change %+v (sends %v), want pin 5 forgotten and no batch", hasMap, ch, ch.Sends())
					}
				default:
					if len(ch.Forget) != 0 || len(ch.Remove) != 1 || ch.Remove[0].ID != 5 || ch.Remove[0].Pinhole != ph ||
						ch.Remove[0].HasMap != hasMap || !ch.Sends() {
						t.Errorf("mapped %v: change %+v, want pin 5 removed (destroyed) in a batch", hasMap, ch)
					}
				}
			}
			// The buffers are reused: a later Result without effects
			// carries nothing over.
			if ch := tr.Translate(nil); !ch.Empty() {
				t.Errorf("an empty Result after it: %+v", ch)
			}
		})
	}
	// A pin opened and closed by the same Result is never installed,
	// used or not.
	var tr Translator
	ch := tr.Translate([]conntrack.Effect{
		{Kind: conntrack.EffOpenPinhole, ID: 6, Pinhole: ph, Timeout: time.Minute},
		{Kind: conntrack.EffClosePinhole, ID: 6, Pinhole: ph, Reason: conntrack.ReasonUsed},
	})
	if !ch.Empty() {
		t.Errorf("opened and used at once: %+v", ch)
	}
}

// TestMemoryConsumesMappings: Memory models the kernel's one-shot NAT
// maps. The first new connection to the public address and port takes
// the mapping (Translate), admitted or not; the pinhole goes with the
// connection it admits; Forget (the daemon's answer to a used pinhole)
// drops what is left of an ID; ranges translate every connection.
func TestMemoryConsumesMappings(t *testing.T) {
	now := time.Unix(1000, 0)
	cli := netip.MustParseAddr("198.51.100.7")
	srv := netip.MustParseAddrPort("10.0.0.5:50000")
	pub := netip.MustParseAddrPort("203.0.113.10:50000")
	mapped := Pin{ID: 1, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}, HasMap: true, Timeout: 30 * time.Second,
		Mapping: conntrack.Mapping{Src: cli, Dst: pub, ToDst: srv, ToSrc: netip.MustParseAddr("10.0.0.1")}}
	snatOnly := mapped
	snatOnly.Mapping.Dst = srv // no DNAT element: the destination stays
	type step struct {
		op   string // "translate" (to pub), "translate-srv", "admit" (srv), "forget", "remove"
		want bool   // translate: translated to srv; admit: admitted
	}
	for _, tc := range []struct {
		name  string
		pin   Pin
		steps []step
		left  int // entries at the end
	}{
		{"a connection through mapping and pinhole takes both", mapped,
			[]step{{"translate", true}, {"admit", true}, {"translate", false}, {"admit", false}}, 0},
		{"the daemon forgets what the kernel consumed: nothing changes", mapped,
			[]step{{"translate", true}, {"admit", true}, {"forget", false}, {"translate", false}, {"admit", false}}, 0},
		{"a second SYN to the public port is not translated, the pinhole waits", mapped,
			[]step{{"translate", true}, {"translate", false}, {"admit", true}, {"admit", false}}, 0},
		{"a connection straight to the server leaves the mapping until forgotten", mapped,
			[]step{{"admit", true}, {"translate", true}, {"admit", false}}, 0},
		{"the unused mapping of a pinhole used directly stays", mapped,
			[]step{{"admit", true}}, 1},
		{"forget drops the mapping the kernel would time out", mapped,
			[]step{{"admit", true}, {"forget", false}, {"translate", false}}, 0},
		{"forget without a connection seen: all of it goes", mapped,
			[]step{{"forget", false}, {"translate", false}, {"admit", false}}, 0},
		{"remove destroys pinhole and mapping", mapped,
			[]step{{"remove", false}, {"translate", false}, {"admit", false}}, 0},
		{"snat only: nothing to translate, admitted once", snatOnly,
			[]step{{"translate", false}, {"admit", true}, {"admit", false}}, 0},
		{"the neighbouring server port is not admitted", mapped,
			[]step{{"translate", true}, {"admit-next", false}, {"admit", true}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemory().At(now)
			if err := m.Apply(Change{Add: []Pin{tc.pin}}); err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				var got bool
				switch s.op {
				case "translate":
					got = m.Translate(cli, pub, now) == srv
				case "admit":
					_, got = m.Admit(cli, srv, now)
				case "admit-next":
					_, got = m.Admit(cli, netip.AddrPortFrom(srv.Addr(), srv.Port()+1), now)
				case "forget":
					if err := m.Apply(Change{Forget: []uint64{tc.pin.ID}}); err != nil {
						t.Fatal(err)
					}
				case "remove":
					if err := m.Apply(Change{Remove: []Pin{{ID: tc.pin.ID}}}); err != nil {
						t.Fatal(err)
					}
				}
				if got != s.want {
					t.Fatalf("step %d (%s): %v, want %v", i, s.op, got, s.want)
				}
			}
			if m.Len() != tc.left {
				t.Errorf("%d entries left, want %d: %+v", m.Len(), tc.left, m.Entries())
			}
		})
	}

	// A passive range's published address is not consumed.
	m := NewMemory().At(now)
	rng := conntrack.PortRange{Src: cli, Dst: srv.Addr(), Public: pub.Addr(), Lo: 50000, Hi: 50010}
	if err := m.Apply(Change{Add: []Pin{{ID: 2, Kind: KindRange, Range: rng, Timeout: time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got := m.Translate(cli, pub, now); got != srv {
			t.Fatalf("range, connection %d: translated to %v, want %v", i, got, srv)
		}
	}
}
