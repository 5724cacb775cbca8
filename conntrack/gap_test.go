package conntrack

import (
	"bytes"
	"testing"
	"time"

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

// TestEndedSessionInspectsNothing: out-of-order segments still held when
// the session ends (FIN both ways) are released by the hold timeout, but
// not inspected: an ended session opens no pinhole (removing an ended
// session closes nothing, so such a pinhole would stay counted against the
// client's and the total budget for good) and resets nothing (found by
// FuzzTracker).
func TestEndedSessionInspectsNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		pol  func(*Policy)
		line string
	}{
		{"PORT", func(*Policy) {}, "PORT 198,51,100,7,200,10\r\n"},
		{"bad PORT under violation reset", func(p *Policy) { p.Violation = ViolationReset }, "PORT 192,0,2,1,200,10\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := DefaultPolicy()
			tc.pol(&pol)
			l := newLab(t, Config{Policy: pol}, cliAddr, srvAddr)
			l.handshake()
			l.send(FromServer, "220 hi\r\n")
			l.ack(FromClient)
			c, s := l.ep[FromClient], l.ep[FromServer]
			// The line arrives beyond a one-byte hole and is held; after
			// the hole, inspection resumes at the next line start.
			if v := l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt+1, c.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte("OOP\r\n"+tc.line))); v != Hold {
				t.Fatalf("out-of-order line: verdict %v, want hold", v)
			}
			l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt, c.rcvNxt, rewrite.FlagACK|rewrite.FlagFIN, nil))
			l.deliver(FromServer, buildPacket(s.addr, c.addr, s.sndNxt, c.sndNxt+1, rewrite.FlagACK|rewrite.FlagFIN, nil))
			if e := l.effects(EffSessionEnd); len(e) != 1 {
				t.Fatalf("session end effects %+v, want one", e)
			}
			l.clearLog()
			l.tick(pol.HoldTimeout + time.Millisecond)
			if len(l.held) != 0 {
				t.Fatalf("%d packets still held after the hold timeout", len(l.held))
			}
			for _, e := range l.Effects {
				if e.Kind == EffOpenPinhole || e.Kind == EffReset || e.Kind == EffViolation {
					t.Errorf("ended session: effect %v %v %v", e.Kind, e.Pinhole, e.Reason)
				}
			}
			// The kernel forgets the connection: the session goes, and
			// nothing of it may stay behind.
			l.tr.EndFlow(Flow{Client: c.addr, Server: s.addr}, l.now, &l.res)
			l.collect(FromClient, 0, nil)
			l.tick(pol.SessionIdle + time.Second)
			if l.tr.Sessions() != 0 || l.tr.Pinholes() != 0 {
				t.Fatalf("after the session went: %d sessions, %d pinholes", l.tr.Sessions(), l.tr.Pinholes())
			}
		})
	}
}
