package conntrack

import (
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// The second hostile-input round (issue 9): one table row per case of
// each finding F1-F11. Every row starts after a login without NAT and
// checks the pinholes that opened, the violations reported and, where it
// matters, what the receiving peer read.

// tlsRecord is a TLS record of content type typ (RFC 8446 section 5.1)
// carrying body, version 3.1 as a ClientHello's record layer says.
func tlsRecord(typ byte, body string) string {
	n := len(body)
	return string([]byte{typ, 3, 1, byte(n >> 8), byte(n)}) + body
}

// plantedHello is a ClientHello record whose session ticket, chosen by a
// malicious server, carries a PORT to the client's own address.
var plantedHello = tlsRecord(22, "\x01\x00\x01\x00\x03\x03randomrandomrandomrandomrandom12"+
	"\x00\x23\x00\x40ticket\r\nPORT 198,51,100,7,200,10\r\nEPRT |1|198.51.100.7|51211|\r\n")

// sendWithAck sends payload from dir with an explicit acknowledgment
// number (the sender's own view of the peer's stream).
func (l *lab) sendWithAck(dir Dir, payload string, ack uint32) {
	e, o := l.ep[dir], l.ep[1-dir]
	b := buildPacket(e.addr, o.addr, e.sndNxt, ack, rewrite.FlagACK|rewrite.FlagPSH, []byte(payload))
	e.sndNxt += uint32(len(payload))
	l.deliver(dir, b)
}

// raw sends a segment from dir with explicit sequence number and flags.
func (l *lab) raw(dir Dir, seq uint32, flags uint8, payload string) Verdict {
	e, o := l.ep[dir], l.ep[1-dir]
	return l.deliver(dir, buildPacket(e.addr, o.addr, seq, e.rcvNxt, flags, []byte(payload)))
}

// deliverCorrupt passes a packet whose checksum is bad through the
// Tracker: it must leave (still corrupt, so that its receiver discards it,
// as it would have without ftpalg) and is then not delivered.
func (l *lab) deliverCorrupt(b []byte) {
	l.t.Helper()
	l.token++
	in := append([]byte(nil), b...)
	l.tr.Process(in, l.token, l.now, &l.res)
	l.Effects = append(l.Effects, l.res.Effects...)
	l.Events = append(l.Events, l.res.Events...)
	out := in
	switch l.res.Verdict {
	case Accept:
	case AcceptModified:
		out = l.res.Packet
	default:
		l.t.Fatalf("corrupt packet: verdict %v, want it passed", l.res.Verdict)
	}
	var p rewrite.Packet
	if err := rewrite.Decode(out, &p); err != nil || p.ChecksumOK() {
		l.t.Fatalf("corrupt packet left with a good checksum (or undecodable: %v)", err)
	}
}

func (l *lab) violations() map[Reason]int {
	m := map[Reason]int{}
	for _, v := range l.effects(EffViolation) {
		m[v.Reason]++
	}
	return m
}

func (l *lab) closedFor(r Reason) int {
	n := 0
	for _, e := range l.effects(EffClosePinhole) {
		if e.Reason == r {
			n++
		}
	}
	return n
}

type hostileRow struct {
	name   string
	cfg    Config
	pol    func(*Policy)
	noAuth bool // start right after the handshake (no greeting, no login)
	run    func(l *lab)
	opens  int      // pinholes opened
	want   []Reason // violations that must be reported
	clean  bool     // no violation at all may be reported
	check  func(t *testing.T, l *lab)
}

func runHostile(t *testing.T, rows []hostileRow) {
	t.Helper()
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Policy = DefaultPolicy()
			if tc.pol != nil {
				tc.pol(&cfg.Policy)
			}
			l := newLab(t, cfg, cliAddr, srvAddr)
			if tc.noAuth {
				l.handshake()
			} else {
				login(l)
			}
			l.clearLog()
			tc.run(l)
			if n := len(l.effects(EffOpenPinhole)); n != tc.opens {
				t.Errorf("%d pinholes opened, want %d; events %+v", n, tc.opens, l.Events)
			}
			got := l.violations()
			for _, r := range tc.want {
				if got[r] == 0 {
					t.Errorf("no %v violation; violations %v, events %+v", r, got, l.Events)
				}
			}
			if tc.clean && len(got) != 0 {
				t.Errorf("violations %v, want none; events %+v", got, l.Events)
			}
			if tc.check != nil {
				tc.check(t, l)
			}
		})
	}
}

func opaqueFired(t *testing.T, l *lab) {
	t.Helper()
	if len(l.effects(EffOpaque)) == 0 {
		t.Errorf("session never became opaque; events %+v", l.Events)
	}
}

func wasReset(t *testing.T, l *lab) {
	t.Helper()
	if len(l.effects(EffReset)) == 0 {
		t.Errorf("no reset; effects %+v", l.Effects)
	}
}

var blockTLS = Config{TLS: map[uint16]TLSRule{21: {Mode: TLSBlock}}}

func withReset(p *Policy) { p.Violation = ViolationReset }

// F1: any sign that a side has started TLS makes the channel opaque,
// whatever the pairing of AUTH and 234 says.
func TestF1TLSSignsMakeTheChannelOpaque(t *testing.T) {
	long := "215 " + strings.Repeat("A", 1100) + "\r\n"
	runHostile(t, []hostileRow{
		{name: "234 whose ACK does not cover the AUTH", run: func(l *lab) {
			before := l.ep[FromServer].rcvNxt
			l.send(FromClient, "AUTH TLS\r\n")
			l.sendWithAck(FromServer, "234 Proceed with negotiation.\r\n", before)
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "234 answering another command", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "234 ending a multi-line 200", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "200-x\r\n234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "234 as text inside a multi-line reply", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "200-x\r\n234-Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "long reply line shifts pairing before the 234", run: func(l *lab) {
			l.send(FromClient, "SYST\r\n")
			l.send(FromServer, long)
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonLineTooLong}, check: opaqueFired},
		{name: "234 after a bare LF", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200 ok\n234 Proceed\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "234 split after its first two bytes, after a bare LF", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200 ok\n23")
			l.send(FromServer, "4 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "paired 234 ended by a bare LF", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, clean: true, check: opaqueFired},
		{name: "ClientHello after a bare LF", run: func(l *lab) {
			l.send(FromClient, "NOOP\n"+plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "ClientHello with no 234 seen at all", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "2")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "ClientHello split after its first byte", run: func(l *lab) {
			l.send(FromClient, plantedHello[:1])
			l.send(FromClient, plantedHello[1:])
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "ServerHello with no 234", run: func(l *lab) {
			l.send(FromServer, tlsRecord(22, "\x02\x00\x00\x10serverhello\r\n227 x (198,51,100,7,200,10)\r\n"))
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: opaqueFired},
		{name: "block: unpaired 234 resets", cfg: blockTLS, run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "200-x\r\n234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSBlocked}, check: wasReset},
		{name: "block: ClientHello without 234 resets", cfg: blockTLS, run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSBlocked}, check: wasReset},
		{name: "allow with reset policy: unpaired 234 resets", pol: withReset, run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "200-x\r\n234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}, check: wasReset},
		{name: "legitimate AUTH and 234", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, clean: true, check: opaqueFired},
		{name: "open pinhole closes when TLS starts", run: func(l *lab) {
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 1, want: []Reason{ReasonTLSUnpaired}, check: func(t *testing.T, l *lab) {
			if l.closedFor(ReasonOpaque) != 1 {
				t.Errorf("pinhole not closed as opaque: %+v", l.effects(EffClosePinhole))
			}
		}},
	})
}

// F2: after EPSV ALL only PORT, EPRT and PASV are forbidden (RFC 2428
// section 4); EPSV goes on working.
func TestF2EPSVAfterEPSVAll(t *testing.T) {
	runHostile(t, []hostileRow{
		{name: "EPSV after EPSV ALL", run: func(l *lab) {
			l.send(FromClient, "EPSV ALL\r\n")
			l.send(FromServer, "200 EPSV ALL ok\r\n")
			l.send(FromClient, "EPSV\r\n")
			l.send(FromServer, "229 Entering Extended Passive Mode (|||6446|)\r\n")
		}, opens: 1, clean: true},
		{name: "lower-case epsv all then epsv", run: func(l *lab) {
			l.send(FromClient, "epsv all\r\n")
			l.send(FromServer, "200 ok\r\n")
			l.send(FromClient, "epsv 1\r\n")
			l.send(FromServer, "229 ok (|||6446|)\r\n")
		}, opens: 1, clean: true},
		{name: "PASV after EPSV ALL", run: func(l *lab) {
			l.send(FromClient, "EPSV ALL\r\n")
			l.send(FromServer, "200 EPSV ALL ok\r\n")
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 0, want: []Reason{ReasonEPSVAll}},
		{name: "EPRT after EPSV ALL", run: func(l *lab) {
			l.send(FromClient, "EPSV ALL\r\n")
			l.send(FromServer, "200 EPSV ALL ok\r\n")
			l.send(FromClient, "EPRT |1|198.51.100.7|51210|\r\n")
		}, opens: 0, want: []Reason{ReasonEPSVAll}},
		{name: "EPSV ALL refused: PORT still works", run: func(l *lab) {
			l.send(FromClient, "EPSV ALL\r\n")
			l.send(FromServer, "500 no\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1, clean: true},
	})
}

// F3: a line over the limit is discarded but still counts as one command
// or one reply; its first bytes carry the code.
func TestF3LongLinesKeepPairing(t *testing.T) {
	longText := strings.Repeat("A", 1100)
	runHostile(t, []hostileRow{
		{name: "long 550 then PASV", run: func(l *lab) {
			l.send(FromClient, "RETR x\r\n")
			l.send(FromServer, "550 "+longText+"\r\n")
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 1, want: []Reason{ReasonLineTooLong}},
		{name: "long reply split over segments then PASV", run: func(l *lab) {
			l.send(FromClient, "RETR x\r\n")
			l.send(FromServer, "550 "+longText[:600])
			l.send(FromServer, longText[600:])
			l.send(FromServer, "\r\n")
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 1, want: []Reason{ReasonLineTooLong}},
		{name: "long reply then PORT refused with 500", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200 "+longText+"\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
			l.send(FromServer, "500 Illegal PORT command.\r\n")
		}, opens: 1, want: []Reason{ReasonLineTooLong}, check: func(t *testing.T, l *lab) {
			if l.closedFor(ReasonWithdrawn) != 1 {
				t.Errorf("PORT pinhole not withdrawn: %+v", l.effects(EffClosePinhole))
			}
		}},
		{name: "1100-byte greeting", noAuth: true, run: func(l *lab) {
			l.send(FromServer, "220 "+longText+"\r\n")
			l.send(FromClient, "USER anonymous\r\n")
			l.send(FromServer, "230 ok\r\n")
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 1, want: []Reason{ReasonLineTooLong}},
		{name: "pipelined long command then PORT", run: func(l *lab) {
			l.send(FromClient, "XCMD "+longText+"\r\nPORT 198,51,100,7,200,10\r\n")
			l.send(FromServer, "500 Unknown command.\r\n")
			l.send(FromServer, "200 PORT command successful.\r\n")
		}, opens: 1, want: []Reason{ReasonLineTooLong}, check: func(t *testing.T, l *lab) {
			if n := len(l.effects(EffClosePinhole)); n != 0 {
				t.Errorf("legitimate PORT withdrawn: %+v", l.effects(EffClosePinhole))
			}
		}},
		{name: "long PORT opens nothing but counts", run: func(l *lab) {
			l.send(FromClient, "PORT 198,51,100,7,200,10"+strings.Repeat(" ", 1100)+"\r\n")
			l.send(FromServer, "200 ok\r\n")
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 1, want: []Reason{ReasonLineTooLong}},
		{name: "long 227 announces nothing", run: func(l *lab) {
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)"+longText+"\r\n")
		}, opens: 0, want: []Reason{ReasonLineTooLong}},
	})
}

// F4: a multi-line reply that never ends with its own code does not
// freeze reply parsing: like curl, any "ddd " line ends it, but a 227/229
// ending another code's reply announces nothing.
func TestF4UnendedMultiLineReply(t *testing.T) {
	runHostile(t, []hostileRow{
		{name: "500 to PORT after an unended reply withdraws", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200-start\r\n250 done\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
			l.send(FromServer, "500 Illegal PORT command.\r\n")
		}, opens: 1, check: func(t *testing.T, l *lab) {
			if l.closedFor(ReasonWithdrawn) != 1 {
				t.Errorf("PORT pinhole not withdrawn: %+v", l.effects(EffClosePinhole))
			}
		}},
		{name: "PASV after an unended reply", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200-start\r\n250 done\r\n")
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 1, clean: true},
		{name: "227 ending another code's reply", run: func(l *lab) {
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "230-Welcome\r\n227 Entering Passive Mode (203,0,113,10,195,80)\r\n230 ok\r\n")
		}, opens: 0, want: []Reason{ReasonAmbiguous}},
		{name: "234 after an unended reply", run: func(l *lab) {
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200-start\r\n")
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, check: opaqueFired},
	})
}

// F5: an end of session is accepted only where the receiving stack would
// accept it, and a SYN does not replace a live session.
func TestF5BlindPackets(t *testing.T) {
	pasv := func(l *lab) {
		l.send(FromClient, "PASV\r\n")
		l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
	}
	runHostile(t, []hostileRow{
		{name: "in-window RST ahead of the stream", run: func(l *lab) {
			l.raw(FromServer, l.ep[FromServer].sndNxt+1000, rewrite.FlagRST, "")
			pasv(l)
		}, opens: 1, clean: true},
		{name: "in-window RST behind the stream", run: func(l *lab) {
			l.raw(FromClient, l.ep[FromClient].sndNxt-10, rewrite.FlagRST|rewrite.FlagACK, "")
			pasv(l)
		}, opens: 1, clean: true},
		{name: "RST at the exact sequence number ends the session", run: func(l *lab) {
			l.raw(FromServer, l.ep[FromServer].sndNxt, rewrite.FlagRST, "")
			pasv(l)
		}, opens: 0, check: func(t *testing.T, l *lab) {
			if len(l.effects(EffSessionEnd)) != 1 {
				t.Errorf("session did not end: %+v", l.Effects)
			}
		}},
		{name: "a reused port the server accepts replaces the session", run: func(l *lab) {
			c, srv := l.ep[FromClient], l.ep[FromServer]
			l.raw(FromClient, 5000, rewrite.FlagSYN, "")
			l.deliver(FromServer, buildPacket(srv.addr, c.addr, 9000, 5001, rewrite.FlagSYN|rewrite.FlagACK, nil))
			l.deliver(FromClient, buildPacket(c.addr, srv.addr, 5001, 9001, rewrite.FlagACK, nil))
			l.deliver(FromServer, buildPacket(srv.addr, c.addr, 9001, 5001, rewrite.FlagACK|rewrite.FlagPSH, []byte("220 again\r\n")))
			l.deliver(FromClient, buildPacket(c.addr, srv.addr, 5001, 9012, rewrite.FlagACK|rewrite.FlagPSH, []byte("PORT 198,51,100,7,200,10\r\n")))
		}, opens: 1, clean: true, check: func(t *testing.T, l *lab) {
			if n, m := len(l.effects(EffSessionStart)), len(l.effects(EffSessionEnd)); n != 1 || m != 1 {
				t.Errorf("%d sessions started, %d ended; want 1 and 1", n, m)
			}
		}},
		{name: "spoofed SYN on a live session", run: func(l *lab) {
			l.raw(FromClient, 12345, rewrite.FlagSYN, "")
			pasv(l)
		}, opens: 1, clean: true, check: func(t *testing.T, l *lab) {
			if n := len(l.effects(EffSessionStart)); n != 0 {
				t.Errorf("SYN started %d new sessions", n)
			}
		}},
	})
}

// F6: data after a FIN is never parsed: the receiver discards it.
func TestF6DataAfterFIN(t *testing.T) {
	runHostile(t, []hostileRow{
		{name: "PORT after the client's FIN, FIN acknowledged", run: func(l *lab) {
			c := l.ep[FromClient]
			fin := c.sndNxt
			l.raw(FromClient, fin, rewrite.FlagFIN|rewrite.FlagACK, "")
			c.sndNxt++
			l.deliver(FromServer, buildPacket(l.ep[FromServer].addr, c.addr, l.ep[FromServer].sndNxt, fin+1, rewrite.FlagACK, nil))
			// After a resync, inspection starts at the next line start.
			l.raw(FromClient, fin+1, rewrite.FlagACK|rewrite.FlagPSH, "NOOP\r\nPORT 198,51,100,7,200,10\r\n")
			l.tick(time.Second)
			l.tick(time.Second)
		}, opens: 0},
		{name: "PORT reusing the FIN's sequence number", run: func(l *lab) {
			c := l.ep[FromClient]
			fin := c.sndNxt
			l.raw(FromClient, fin, rewrite.FlagFIN|rewrite.FlagACK, "")
			l.raw(FromClient, fin, rewrite.FlagACK|rewrite.FlagPSH, "PORT 198,51,100,7,200,10\r\n")
			l.tick(time.Second)
		}, opens: 0},
		{name: "PORT in the FIN segment counts", run: func(l *lab) {
			c := l.ep[FromClient]
			l.raw(FromClient, c.sndNxt, rewrite.FlagFIN|rewrite.FlagACK|rewrite.FlagPSH, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1},
	})
}

// F7: no command counts once the session is ending or switching to TLS.
func TestF7CommandsWhileEndingOrSwitching(t *testing.T) {
	runHostile(t, []hostileRow{
		{name: "QUIT and PORT in one segment", run: func(l *lab) {
			l.send(FromClient, "QUIT\r\nPORT 198,51,100,7,200,10\r\n")
		}, opens: 0, want: []Reason{ReasonClosing}},
		{name: "PORT after QUIT with no 221", run: func(l *lab) {
			l.send(FromClient, "QUIT\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 0, want: []Reason{ReasonClosing}},
		{name: "227 after QUIT", run: func(l *lab) {
			l.send(FromClient, "PASV\r\nQUIT\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, opens: 0, want: []Reason{ReasonClosing}},
		{name: "PORT after a 421", run: func(l *lab) {
			l.send(FromServer, "421 Timeout.\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 0, want: []Reason{ReasonClosing}},
		{name: "QUIT refused: PORT works again", run: func(l *lab) {
			l.send(FromClient, "QUIT\r\n")
			l.send(FromServer, "500 not now\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1, clean: true},
		{name: "AUTH TLS and PORT in one segment", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\nPORT 198,51,100,7,200,10\r\n")
		}, opens: 0, want: []Reason{ReasonTLSPending}},
		{name: "AUTH refused: PORT works", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "504 no\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1, clean: true},
		{name: "block: rewritten AUTH, then PORT works", cfg: blockTLS, run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "504 Unknown AUTH type.\r\n")
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1, want: []Reason{ReasonTLSBlocked}},
	})
}

// F8: a client that uses source port 21 does not confuse the direction:
// the side that sent the SYN is the client.
func TestF8ClientSourcePort21(t *testing.T) {
	client := mustAP("198.51.100.7:21")
	for _, tc := range []struct {
		name  string
		run   func(l *lab)
		opens int
	}{
		{"PORT inside the server's 214 reply", func(l *lab) {
			l.send(FromClient, "HELP\r\n")
			l.send(FromServer, "214-The following commands are recognized.\r\nPORT 203,0,113,10,200,10\r\n214 Help OK.\r\n")
		}, 0},
		{"legitimate 227", func(l *lab) {
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n")
		}, 1},
		{"legitimate PORT", func(l *lab) {
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{}, client, srvAddr)
			login(l)
			tc.run(l)
			if n := len(l.effects(EffOpenPinhole)); n != tc.opens {
				t.Errorf("%d pinholes opened, want %d; events %+v", n, tc.opens, l.Events)
			}
			if n := len(l.effects(EffSessionStart)); n != 1 {
				t.Errorf("%d sessions started, want 1", n)
			}
			for _, e := range l.effects(EffOpenPinhole) {
				if e.Flow.Client != client {
					t.Errorf("pinhole of flow %v, want client %v", e.Flow, client)
				}
			}
		})
	}
}

// F9: bytes the receiver never reads are never inspected.
func TestF9BytesTheReceiverDiscards(t *testing.T) {
	corrupt := func(b []byte) []byte {
		b[len(b)-3] ^= 0x01 // a payload byte: the TCP checksum no longer verifies
		return b
	}
	runHostile(t, []hostileRow{
		{name: "PORT with a bad TCP checksum", run: func(l *lab) {
			c, s := l.ep[FromClient], l.ep[FromServer]
			b := buildPacket(c.addr, s.addr, c.sndNxt, c.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte("PORT 198,51,100,7,200,10\r\n"))
			l.deliverCorrupt(corrupt(b))
		}, opens: 0, check: func(t *testing.T, l *lab) {
			if l.tr.Stats.BadChecksum != 1 {
				t.Errorf("BadChecksum %d, want 1", l.tr.Stats.BadChecksum)
			}
		}},
		{name: "bad checksum then the good retransmission", run: func(l *lab) {
			c, s := l.ep[FromClient], l.ep[FromServer]
			b := buildPacket(c.addr, s.addr, c.sndNxt, c.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte("PORT 198,51,100,7,200,10\r\n"))
			l.deliverCorrupt(corrupt(append([]byte(nil), b...)))
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1},
		{name: "RST with a bad checksum", run: func(l *lab) {
			s, c := l.ep[FromServer], l.ep[FromClient]
			b := buildPacket(s.addr, c.addr, s.sndNxt, s.rcvNxt, rewrite.FlagRST, nil)
			b[len(b)-1] ^= 0xff // the urgent pointer's low byte
			l.deliverCorrupt(b)
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1},
		{name: "out-of-order PORT replaced by a covering segment", run: func(l *lab) {
			c := l.ep[FromClient]
			base := c.sndNxt
			l.sendAt(FromClient, base+6, "PORT 198,51,100,7,200,10\r\n")
			l.sendAt(FromClient, base+6, "XPRT 198,51,100,7,200,10\r\nNOOP\r\n")
			l.sendAt(FromClient, base, "NOOP\r\n")
			c.sndNxt = base + 6 + 32
		}, opens: 0, check: func(t *testing.T, l *lab) {
			got := string(l.ep[FromServer].rcv)
			if !strings.HasSuffix(got, "NOOP\r\nXPRT 198,51,100,7,200,10\r\nNOOP\r\n") {
				t.Errorf("server read %q", got)
			}
		}},
		{name: "out-of-order PORT covered by the held segment", run: func(l *lab) {
			c := l.ep[FromClient]
			base := c.sndNxt
			l.sendAt(FromClient, base+6, "PORT 198,51,100,7,200,10\r\nNOOP\r\n")
			if v := l.raw(FromClient, base+6, rewrite.FlagACK|rewrite.FlagPSH, "XPRT 198,51,100,7,200,10\r\n"); v != Drop {
				t.Errorf("covered segment: verdict %v, want drop", v)
			}
			l.sendAt(FromClient, base, "NOOP\r\n")
			c.sndNxt = base + 6 + 32
		}, opens: 1},
	})
}

// F10: after AUTH and 234, an alert record alone does not bring the
// client's bytes back to clear text, and bytes that look like a TLS record
// are never parsed as a command.
func TestF10AlertWithoutCCC(t *testing.T) {
	alert := tlsRecord(21, "\x02\x28")
	app := tlsRecord(23, strings.Repeat("\xaa", 40))
	runHostile(t, []hostileRow{
		{name: "handshake alert, then clear text", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, tlsRecord(22, "hello"))
			l.send(FromServer, alert)
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 0, check: opaqueFired},
		{name: "CCC after application data clears", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, tlsRecord(22, "hello")+app)
			l.send(FromServer, tlsRecord(22, "hello")+app)
			l.send(FromServer, alert)
			l.send(FromClient, "PORT 198,51,100,7,200,10\r\n")
		}, opens: 1, check: func(t *testing.T, l *lab) {
			if len(l.effects(EffClear)) != 1 {
				t.Errorf("channel not cleared: %+v", l.Effects)
			}
		}},
		{name: "TLS record again after CCC", run: func(l *lab) {
			l.send(FromClient, "AUTH TLS\r\n")
			l.send(FromServer, "234 Proceed\r\n")
			l.send(FromClient, tlsRecord(22, "hello")+app)
			l.send(FromServer, tlsRecord(22, "hello")+app)
			l.send(FromServer, alert)
			l.send(FromClient, "NOOP\r\n")
			l.send(FromServer, "200 ok\r\n")
			l.send(FromClient, plantedHello)
		}, opens: 0, want: []Reason{ReasonTLSUnpaired}},
	})
}

// F11: a command counts as received only once the ACK covers its line
// terminator.
func TestF11AckMustCoverTheTerminator(t *testing.T) {
	runHostile(t, []hostileRow{
		{name: "ACK covers PASV without its CRLF", run: func(l *lab) {
			before := l.ep[FromServer].rcvNxt
			l.send(FromClient, "PASV\r\n")
			l.sendWithAck(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n", before+4)
		}, opens: 0, want: []Reason{ReasonUnsolicited}},
		{name: "ACK covers PASV without its LF", run: func(l *lab) {
			before := l.ep[FromServer].rcvNxt
			l.send(FromClient, "PASV\r\n")
			l.sendWithAck(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n", before+5)
		}, opens: 0, want: []Reason{ReasonUnsolicited}},
		{name: "ACK covers the whole PASV line", run: func(l *lab) {
			before := l.ep[FromServer].rcvNxt
			l.send(FromClient, "PASV\r\n")
			l.sendWithAck(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80)\r\n", before+6)
		}, opens: 1, clean: true},
	})
}

// refusal is the refusal text of an argument of n bytes.
func refusal(n int) string { return string(appendRefusal(nil, n)) }
