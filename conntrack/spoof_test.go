package conntrack

import (
	"strings"
	"testing"
	"time"
)

// TestSegmentOutsideTheWindow: a segment injected into the server's
// stream with a sequence number far outside the client's window (the
// client's kernel, and conntrack, discard it) must neither open a
// pinhole nor make the inspector lose the real stream. The e2e suite
// (TestHostile, raw-227-spoofed-*) found both on a live gateway.
func TestSegmentOutsideTheWindow(t *testing.T) {
	spoofed := "x\r\n227 Entering Passive Mode (10,0,0,5,156,64).\r\n" // port 40000, never announced
	real := "227 Entering Passive Mode (10,0,0,5,195,80).\r\n"         // port 50000
	for _, tc := range []struct {
		name string
		off  int64 // from the server's next sequence number
	}{
		{"ahead", 1_000_000},
		{"behind", -1_000_000},
		{"ahead-beyond-window", 70_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := natLab(t, "10.0.0.5:21")
			login(l)
			l.send(FromClient, "PASV\r\n")
			s := l.ep[FromServer]
			l.sendAt(FromServer, s.sndNxt+uint32(tc.off), spoofed)
			l.tick(time.Second) // any hold times out
			l.send(FromServer, real)
			for _, e := range l.effects(EffOpenPinhole) {
				if e.Pinhole.Dst.Port() != 50000 {
					t.Errorf("pinhole opened for %v: only port 50000 was announced", e.Pinhole.Dst)
				}
			}
			if n := len(l.effects(EffOpenPinhole)); n != 1 {
				t.Errorf("%d pinholes opened, want 1 (the real 227's)", n)
			}
			if got := string(l.ep[FromClient].rcv); !strings.HasSuffix(got, "227 Entering Passive  (203,0,113,10,195,80).\r\n") {
				t.Errorf("the real 227 was not rewritten; client received %q", got)
			}
			// The inspector still follows the session: QUIT/221 close it.
			l.send(FromClient, "QUIT\r\n")
			l.send(FromServer, "221 Goodbye.\r\n")
			if n := len(l.effects(EffClosePinhole)); n != 1 {
				t.Errorf("%d pinholes closed after QUIT/221, want 1", n)
			}
		})
	}
}
