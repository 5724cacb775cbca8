package conntrack

import "testing"

// TestUsedPinholeClosesOnce: the data connection's conntrack event
// (PinholeUsed) closes the pinhole with reason "used", mapping included,
// and the transfer's final reply then has nothing left to close, so the
// whole transfer costs the table only the pinhole's opening (rules turns
// a "used" close into bookkeeping, no batch). If the final reply is seen
// first, the pinhole closes as transfer-done (a real removal, since the
// Tracker cannot tell whether a connection used it), and the late event
// finds nothing.
func TestUsedPinholeClosesOnce(t *testing.T) {
	for _, tc := range []struct {
		name      string
		usedFirst bool
	}{
		{"used before the 226", true},
		{"226 before the used event", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := natLab(t, "10.0.0.5:21")
			login(l)
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
			opens := l.effects(EffOpenPinhole)
			if len(opens) != 1 || !opens[0].HasMap {
				t.Fatalf("open effects %+v, want one mapped pinhole", opens)
			}
			id := opens[0].ID
			l.send(FromClient, "RETR f\r\n")
			l.send(FromServer, "150 Opening\r\n")
			l.clearLog()
			used := func() bool {
				ok := l.tr.PinholeUsed(id, &l.res)
				l.Effects = append(l.Effects, l.res.Effects...)
				return ok
			}
			if tc.usedFirst && !used() {
				t.Fatal("PinholeUsed: pinhole not outstanding")
			}
			l.send(FromServer, "226 Transfer complete.\r\n")
			if !tc.usedFirst && used() {
				t.Error("PinholeUsed after the transfer-done close found the pinhole still outstanding")
			}
			closes := l.effects(EffClosePinhole)
			if len(closes) != 1 || closes[0].ID != id || !closes[0].HasMap || closes[0].Mapping != opens[0].Mapping {
				t.Fatalf("close effects %+v, want pinhole %d closed once, with its mapping", closes, id)
			}
			want := ReasonTransferDone
			if tc.usedFirst {
				want = ReasonUsed
			}
			if closes[0].Reason != want {
				t.Errorf("closed for %v, want %v", closes[0].Reason, want)
			}
			for _, e := range l.Effects {
				if e.Kind != EffClosePinhole {
					t.Errorf("another effect: %+v", e)
				}
			}
			if n := l.tr.Pinholes(); n != 0 {
				t.Errorf("%d pinholes outstanding after the transfer", n)
			}
		})
	}
}
