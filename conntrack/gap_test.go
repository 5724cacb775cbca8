package conntrack

import (
	"bytes"
	"testing"

	"github.com/ftpalg/ftpalg/rewrite"
)

// TestGapKeepsHeldOutOfOrder: when a segment arrives beyond a hole and
// cannot be held, the inspector skips the missing bytes; out-of-order
// segments it held between the hole and that segment were never
// forwarded, so they must leave with their bytes, not be dropped or
// emptied as if the receiver had them (found by FuzzTracker).
func TestGapKeepsHeldOutOfOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint8 // of the held out-of-order segment
	}{
		{"data", rewrite.FlagACK | rewrite.FlagPSH},
		{"data and FIN", rewrite.FlagACK | rewrite.FlagPSH | rewrite.FlagFIN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := DefaultPolicy()
			pol.MaxHeldSegments = 1
			l := newLab(t, Config{Policy: pol}, cliAddr, srvAddr)
			l.handshake()
			l.send(FromServer, "220 hi\r\n")
			c, s := l.ep[FromClient], l.ep[FromServer]
			hole := c.sndNxt // one byte never arrives
			held := "OOP\r\nNOOP\r\n"
			heldPkt := buildPacket(c.addr, s.addr, hole+1, c.rcvNxt, tc.flags, []byte(held))
			if v := l.deliver(FromClient, heldPkt); v != Hold {
				t.Fatalf("out-of-order segment: verdict %v, want hold", v)
			}
			heldTok := l.token
			// The next segment cannot be held too (one segment at most).
			l.sendAt(FromClient, hole+1+uint32(len(held)), "STAT\r\n")
			var rel *Release
			for i := range l.res.Released {
				if l.res.Released[i].Token == heldTok {
					rel = &l.res.Released[i]
				}
			}
			switch {
			case rel == nil:
				t.Fatalf("held segment not released when the inspector skipped past it; released %+v", l.res.Released)
			case rel.Verdict == Accept:
			case rel.Verdict == AcceptModified:
				var p rewrite.Packet
				if err := rewrite.Decode(rel.Packet, &p); err != nil || !bytes.Equal(p.Payload, []byte(held)) || uint32(p.Seq) != hole+1 {
					t.Fatalf("held segment left as seq %d payload %q (err %v), want seq %d payload %q", uint32(p.Seq), p.Payload, err, hole+1, held)
				}
			default:
				t.Fatalf("held segment, never forwarded, released with verdict %v", rel.Verdict)
			}
		})
	}
}
