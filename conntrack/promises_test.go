package conntrack

// Tests for promises of README "How the inspector decides" that a
// mutation run found untested (issue 14; scripts/mutate and TESTING.md
// name the mutation each test kills).

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ftpalg/ftpalg/rewrite"
)

// opened lists the data ports of the pinholes opened so far, in order.
func (l *lab) opened() []uint16 {
	var ports []uint16
	for _, e := range l.effects(EffOpenPinhole) {
		ports = append(ports, e.Pinhole.Dst.Port())
	}
	return ports
}

func (l *lab) violated(r Reason) bool {
	for _, v := range l.effects(EffViolation) {
		if v.Reason == r {
			return true
		}
	}
	return false
}

// TestPairingNeedsTheServersAckOfTheCommand: "a 227/229 counts only if the
// server's ACK shows it had received that command". A reply whose ACK
// predates the whole PASV/EPSV line cannot answer it: no pinhole. The
// command stays outstanding, and the same reply acknowledging it pairs.
func TestPairingNeedsTheServersAckOfTheCommand(t *testing.T) {
	for _, tc := range []struct{ cmd, reply string }{
		{"PASV\r\n", "227 Entering Passive Mode (203,0,113,10,195,80).\r\n"},
		{"EPSV\r\n", "229 Entering Extended Passive Mode (|||50000|)\r\n"},
	} {
		t.Run(tc.cmd[:4], func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			c, s := l.ep[FromClient], l.ep[FromServer]
			before := s.rcvNxt // the server's ACK before the command
			l.send(FromClient, tc.cmd)
			l.clearLog()
			l.deliver(FromServer, buildPacket(s.addr, c.addr, s.sndNxt, before, rewrite.FlagACK|rewrite.FlagPSH, []byte(tc.reply)))
			s.sndNxt += uint32(len(tc.reply))
			if got := l.opened(); len(got) != 0 {
				t.Fatalf("a reply whose ACK predates the %q line opened pinholes %v", tc.cmd[:4], got)
			}
			if len(l.effects(EffViolation)) == 0 {
				t.Errorf("the reply was not refused: events %+v", l.Events)
			}
			// Acknowledging the command, the reply pairs.
			l.clearLog()
			l.send(FromServer, tc.reply)
			if got := l.opened(); len(got) != 1 || got[0] != 50000 {
				t.Fatalf("the acknowledged reply opened %v, want [50000]; events %+v", got, l.Events)
			}
		})
	}
}

// TestSpoofedSegmentAheadIsNeverParsed: a segment ahead of the stream that
// the receiver never acknowledged is passed, never parsed, also when it
// cannot be held (too big, or the hold list is full), where the Process
// path decides rather than the hold timeout (TestSegmentOutsideTheWindow).
// It must neither open what it announces nor make the inspector skip the
// real stream.
func TestSpoofedSegmentAheadIsNeverParsed(t *testing.T) {
	pad := strings.Repeat("x", 5000) + "\r\n" // more than MaxHeldBytes
	for _, tc := range []struct {
		name       string
		dir        Dir
		maxHeldSeg int
		spoofs     []string // sent in order, 1 MB ahead
		real       string   // then the real line, in sequence
	}{
		{"227 too big to hold", FromServer, 0,
			[]string{pad + "227 Entering Passive Mode (203,0,113,10,156,64).\r\n"},
			"227 Entering Passive Mode (203,0,113,10,195,80).\r\n"},
		{"PORT too big to hold", FromClient, 0,
			[]string{pad + "PORT 198,51,100,7,156,64\r\n"},
			"PORT 198,51,100,7,195,80\r\n"},
		{"227 with the hold list full", FromServer, 1,
			[]string{"x\r\n", "\r\n227 Entering Passive Mode (203,0,113,10,156,64).\r\n"},
			"227 Entering Passive Mode (203,0,113,10,195,80).\r\n"},
		{"PORT with the hold list full", FromClient, 1,
			[]string{"x\r\n", "\r\nPORT 198,51,100,7,156,64\r\n"},
			"PORT 198,51,100,7,195,80\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := DefaultPolicy()
			if tc.maxHeldSeg > 0 {
				pol.MaxHeldSegments = tc.maxHeldSeg
			}
			l := newLab(t, Config{Policy: pol}, cliAddr, srvAddr)
			login(l)
			if tc.dir == FromServer {
				l.send(FromClient, "PASV\r\n")
			}
			l.ack(1 - tc.dir)
			e := l.ep[tc.dir]
			at := e.sndNxt + 1_000_000
			for _, sp := range tc.spoofs {
				l.sendAt(tc.dir, at, sp)
				at += uint32(len(sp))
				l.ack(1 - tc.dir) // the receiver acknowledges only the real stream
			}
			l.send(tc.dir, tc.real)
			if got := l.opened(); len(got) != 1 || got[0] != 50000 {
				t.Fatalf("pinholes for ports %v, want [50000] (the real line's); events %+v", got, l.Events)
			}
			if got := string(l.ep[1-tc.dir].rcv); !strings.HasSuffix(got, tc.real) {
				t.Errorf("the peer received %q, want the real line last", got)
			}
		})
	}
}

// TestForgedAckDoesNotFoldEdits: an ACK for bytes the sender never sent
// proves nothing; it must not make the inspector forget the rewrite of a
// 227 that may still be retransmitted (the retransmission would leave with
// the private address and the unshifted sequence number).
func TestForgedAckDoesNotFoldEdits(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	l.send(FromClient, "PASV\r\n")
	s, c := l.ep[FromServer], l.ep[FromClient]
	seq := s.sndNxt
	line := "227 Entering Passive Mode (10,0,0,5,195,80).\r\n"
	l.send(FromServer, line)
	first := append([]byte(nil), l.res.Packet...)
	if l.res.Verdict != AcceptModified {
		t.Fatalf("227 verdict %v, want accept-modified", l.res.Verdict)
	}
	// A forged ACK from the client's side, far ahead of the server's data.
	l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt, c.rcvNxt+100_000, rewrite.FlagACK, nil))
	l.sendAt(FromServer, seq, line)
	if l.res.Verdict != AcceptModified || string(l.res.Packet) != string(first) {
		var p rewrite.Packet
		_ = rewrite.Decode(l.res.Packet, &p)
		t.Fatalf("retransmitted 227 after a forged ACK: verdict %v, seq %d payload %q; want the first rewrite (seq %d, public address)",
			l.res.Verdict, uint32(p.Seq), p.Payload, uint32(seq))
	}
}

// TestOverlapIsInspectedOnce: "retransmitted bytes are never inspected
// twice", also when a segment overlaps old bytes and carries new ones: the
// old part is not parsed again (whatever it now says), the new part is.
func TestOverlapIsInspectedOnce(t *testing.T) {
	const (
		port10 = "PORT 198,51,100,7,200,10\r\n" // 51210
		port11 = "PORT 198,51,100,7,200,11\r\n" // 51211
	)
	for _, tc := range []struct {
		name  string
		first string // sent first
		again string // then from the same sequence number
		want  []uint16
	}{
		{"same old bytes", port10, port10 + port11, []uint16{51210, 51211}},
		{"changed old bytes", "NOOP " + strings.Repeat("a", len(port10)-7) + "\r\n", port10 + port11, []uint16{51211}},
		{"old bytes then the rest of a line", "PO", port10 + "NOOP\r\n", []uint16{51210}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			c := l.ep[FromClient]
			seq := c.sndNxt
			l.send(FromClient, tc.first)
			l.sendAt(FromClient, seq, tc.again)
			c.sndNxt = seq + uint32(len(tc.again))
			l.tick(DefaultPolicy().HoldTimeout * 2)
			if got := l.opened(); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("pinholes for ports %v, want %v; events %+v", got, tc.want, l.Events)
			}
		})
	}
}

// TestAtMostFourPinholesPerSession: "at most 4 outstanding pinholes per
// session". Pinholes a pending transfer is using count; a newer
// announcement beyond them is refused (too-many-pinholes).
func TestAtMostFourPinholesPerSession(t *testing.T) {
	for _, tc := range []struct {
		busy  int
		opens bool
	}{{3, true}, {4, false}} {
		t.Run(fmt.Sprint(tc.busy), func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			// Pipelined PORT and RETR pairs, no replies yet: each PORT
			// opens at once and its RETR uses it.
			for i := 0; i < tc.busy; i++ {
				l.send(FromClient, fmt.Sprintf("PORT 198,51,100,7,200,%d\r\nRETR f%d\r\n", 10+i, i))
			}
			if n := len(l.opened()); n != tc.busy {
				t.Fatalf("%d pinholes opened by %d PORTs", n, tc.busy)
			}
			l.clearLog()
			l.send(FromClient, "PORT 198,51,100,7,201,1\r\n")
			switch opened := len(l.opened()) == 1; {
			case tc.opens && !opened:
				t.Fatalf("with %d pinholes in use a new PORT was refused: %+v", tc.busy, l.Effects)
			case !tc.opens && (opened || !l.violated(ReasonTooMany)):
				t.Fatalf("with %d pinholes in use a new PORT was not refused as too-many-pinholes: %+v", tc.busy, l.Effects)
			}
			if l.tr.Pinholes() > DefaultPolicy().MaxPinholes {
				t.Fatalf("%d pinholes outstanding", l.tr.Pinholes())
			}
		})
	}
}

// loginLF is login with a client that ends its lines in a bare LF.
func loginLF(l *lab) {
	l.handshake()
	l.send(FromServer, "220 hi\r\n")
	l.send(FromClient, "USER anonymous\n")
	l.send(FromServer, "331 Password.\r\n")
	l.send(FromClient, "PASS x\n")
	l.send(FromServer, "230 ok\r\n")
}

// TestLineLengthLimit: "lines over 1024 bytes are discarded with a
// reason", at the boundary, whole or split before its line ending (then
// the bytes held for the line stay bounded and the violation comes as
// soon as the line is too long). A line is padded with blanks after a
// PORT argument, so a line that is kept opens a pinhole. (A CRLF line of
// 1024 bytes before its CR is left out: see TestLineLimitCountsTheCR.)
func TestLineLengthLimit(t *testing.T) {
	port := "PORT 198,51,100,7,200,10"
	line := func(n int) string { return port + strings.Repeat(" ", n-len(port)) }
	for _, tc := range []struct {
		name  string
		lf    bool
		n     int  // bytes before the line ending
		split bool // the line ending comes in a later segment
		kept  bool
	}{
		{"LF 1024", true, 1024, false, true},
		{"LF 1025", true, 1025, false, false},
		{"LF 1024 split", true, 1024, true, true},
		{"LF 1025 split", true, 1025, true, false},
		{"CRLF 1023", false, 1023, false, true},
		{"CRLF 1025", false, 1025, false, false},
		{"CRLF 1023 split", false, 1023, true, true},
		{"CRLF 1025 split", false, 1025, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			eol := "\r\n"
			if tc.lf {
				loginLF(l)
				eol = "\n"
			} else {
				login(l)
			}
			l.clearLog()
			if tc.split {
				l.send(FromClient, line(tc.n))
				if h := &l.tr.sessions[Flow{Client: cliAddr, Server: srvAddr}].half[FromClient]; len(h.line) > DefaultPolicy().MaxLine {
					t.Errorf("%d bytes kept of an unfinished line, limit %d", len(h.line), DefaultPolicy().MaxLine)
				}
				if got := l.violated(ReasonLineTooLong); got == tc.kept {
					t.Errorf("unfinished line of %d bytes: line-too-long reported: %v", tc.n, got)
				}
				l.send(FromClient, eol)
			} else {
				l.send(FromClient, line(tc.n)+eol)
			}
			if got := len(l.opened()) == 1; got != tc.kept {
				t.Errorf("line of %d bytes: pinhole opened %v, want %v; events %+v", tc.n, got, tc.kept, l.Events)
			}
			if got := l.violated(ReasonLineTooLong); got == tc.kept {
				t.Errorf("line of %d bytes: line-too-long reported %v", tc.n, got)
			}
			// The inspector follows the stream after the line.
			l.clearLog()
			l.send(FromClient, "PORT 198,51,100,7,200,20"+eol)
			if got := l.opened(); len(got) != 1 || got[0] != 51220 {
				t.Errorf("the next line opened %v, want [51220]", got)
			}
		})
	}
}

// TestUnterminatedLineIsBounded: a line that never ends costs at most
// MaxLine bytes, and is reported once it is over the limit.
func TestUnterminatedLineIsBounded(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.clearLog()
	h := &l.tr.sessions[Flow{Client: cliAddr, Server: srvAddr}].half[FromClient]
	l.send(FromClient, "NOOP ")
	for i := 0; i < 64; i++ {
		l.send(FromClient, strings.Repeat("a", 1000))
		if len(h.line) > DefaultPolicy().MaxLine {
			t.Fatalf("after %d bytes of one line, %d kept (limit %d)", 5+1000*(i+1), len(h.line), DefaultPolicy().MaxLine)
		}
	}
	if !l.violated(ReasonLineTooLong) {
		t.Errorf("64 kB of one line and no line-too-long: %+v", l.Effects)
	}
	l.send(FromClient, "\r\nPORT 198,51,100,7,200,10\r\n")
	if got := l.opened(); len(got) != 1 || got[0] != 51210 {
		t.Errorf("the line after the long one opened %v, want [51210]", got)
	}
}

// TestMinDataPort: "data ports below 1024 refused", at the boundary, for
// both sides' announcements.
func TestMinDataPort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cmd   string
		reply string // "" for PORT/EPRT
		port  uint16
	}{
		{"PORT 1023", "PORT 198,51,100,7,3,255\r\n", "", 1023},
		{"PORT 1024", "PORT 198,51,100,7,4,0\r\n", "", 1024},
		{"EPRT 1023", "EPRT |1|198.51.100.7|1023|\r\n", "", 1023},
		{"EPRT 1024", "EPRT |1|198.51.100.7|1024|\r\n", "", 1024},
		{"227 1023", "PASV\r\n", "227 Entering Passive Mode (203,0,113,10,3,255).\r\n", 1023},
		{"227 1024", "PASV\r\n", "227 Entering Passive Mode (203,0,113,10,4,0).\r\n", 1024},
		{"229 1023", "EPSV\r\n", "229 Entering Extended Passive Mode (|||1023|)\r\n", 1023},
		{"229 1024", "EPSV\r\n", "229 Entering Extended Passive Mode (|||1024|)\r\n", 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			l.clearLog()
			l.send(FromClient, tc.cmd)
			if tc.reply != "" {
				l.send(FromServer, tc.reply)
			}
			got := l.opened()
			if tc.port < 1024 {
				if len(got) != 0 || !l.violated(ReasonLowPort) {
					t.Fatalf("port %d: pinholes %v, violations %+v; want none, low-port", tc.port, got, l.effects(EffViolation))
				}
				return
			}
			if len(got) != 1 || got[0] != tc.port || len(l.effects(EffViolation)) != 0 {
				t.Fatalf("port %d: pinholes %v, violations %+v; want [%d], none", tc.port, got, l.effects(EffViolation), tc.port)
			}
		})
	}
}

// TestEndedSessionParsesNothing: once FIN went both ways the session has
// ended; a later segment with new bytes is passed but never parsed (an
// ended session's pinhole would never close).
func TestEndedSessionParsesNothing(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	c, s := l.ep[FromClient], l.ep[FromServer]
	l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt, c.rcvNxt, rewrite.FlagACK|rewrite.FlagFIN, nil))
	l.deliver(FromServer, buildPacket(s.addr, c.addr, s.sndNxt, c.sndNxt+1, rewrite.FlagACK|rewrite.FlagFIN, nil))
	if len(l.effects(EffSessionEnd)) != 1 {
		t.Fatalf("no session end after FIN both ways: %+v", l.Effects)
	}
	l.clearLog()
	l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	if len(l.opened()) != 0 || l.tr.Pinholes() != 0 {
		t.Fatalf("an ended session opened pinholes: %+v", l.Effects)
	}
}

// TestSplitAnnouncementIsHeldForItsRefusal: "segments of an incomplete
// line that could be an announcement (PORT, EPRT, 227, 229, or a prefix of
// them) are held", so a refused announcement split across segments is
// still rewritten into its refusal: its receiver never sees the original.
func TestSplitAnnouncementIsHeldForItsRefusal(t *testing.T) {
	for _, tc := range []struct {
		dir          Dir
		parts        []string
		receiverGets string
	}{
		{FromClient, []string{"PORT 192,0,2,", "1,200,10\r\n"}, "PORT refused-by-ftpal\r\n"},
		{FromClient, []string{"EPRT |1|192.0.", "2.1|51210|\r\n"}, "EPRT refused-by-ftpalg-r\r\n"},
		{FromServer, []string{"227 Entering Passive Mode (", "203,0,113,10,195,80)\r\n"}, "425 Entering Passive Mode (203,0,113,10,195,80)\r\n"},
		{FromServer, []string{"229 Entering Extended Passive Mode (|||", "6446|)\r\n"}, "425 Entering Extended Passive Mode (|||6446|)\r\n"},
	} {
		t.Run(tc.parts[0][:4], func(t *testing.T) {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			login(l)
			for i, p := range tc.parts {
				l.send(tc.dir, p)
				if i < len(tc.parts)-1 && l.res.Verdict != Hold {
					t.Fatalf("%q: verdict %v, want hold", p, l.res.Verdict)
				}
			}
			if got := string(l.ep[1-tc.dir].rcv); !strings.HasSuffix(got, tc.receiverGets) {
				t.Fatalf("receiver got %q, want suffix %q", got, tc.receiverGets)
			}
			if len(l.opened()) != 0 {
				t.Fatal("pinhole opened for a refused announcement")
			}
		})
	}
}

// TestLineLimitCountsTheCR: a line of n bytes before its line ending is
// kept or discarded alike whether it ends in CRLF or in a bare LF (MaxLine
// counts the line without its ending; the CR of a CRLF once counted).
func TestLineLimitCountsTheCR(t *testing.T) {
	port := "PORT 198,51,100,7,200,10"
	for _, n := range []int{1023, 1024, 1025} {
		kept := map[bool]bool{}
		for _, lf := range []bool{false, true} {
			l := newLab(t, Config{}, cliAddr, srvAddr)
			eol := "\r\n"
			if lf {
				loginLF(l)
				eol = "\n"
			} else {
				login(l)
			}
			l.clearLog()
			l.send(FromClient, port+strings.Repeat(" ", n-len(port))+eol)
			kept[lf] = len(l.opened()) == 1
		}
		if kept[false] != kept[true] {
			t.Errorf("line of %d bytes: kept with CRLF %v, with LF %v", n, kept[false], kept[true])
		}
	}
}
