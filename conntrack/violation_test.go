package conntrack

import (
	"github.com/ftpalg/ftpalg/rewrite"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

func itoa(i int) string { return strconv.Itoa(i) }

func resetPolicy() Policy {
	p := DefaultPolicy()
	p.Violation = ViolationReset
	return p
}

// checkReset asserts that exactly the receiver got one acceptable RST,
// that the session ended by reset with EffReset, and that no pinhole was
// opened.
func checkReset(t *testing.T, l *lab, receiver Dir, reason Reason) {
	t.Helper()
	if e := l.ep[receiver]; e.resets != 1 || e.badResets != 0 {
		t.Errorf("%v received %d acceptable and %d unacceptable RSTs, want 1 and 0", receiver, e.resets, e.badResets)
	}
	if e := l.ep[1-receiver]; e.resets+e.badResets != 0 {
		t.Errorf("%v received a RST from ftpalg; only the kernel's reject rule answers the sender", 1-receiver)
	}
	r := l.effects(EffReset)
	if len(r) != 1 || r[0].Reason != reason {
		t.Errorf("reset effects %+v, want one with reason %v", r, reason)
	}
	if e := l.effects(EffSessionEnd); len(e) != 1 || e[0].Reason != ReasonReset {
		t.Errorf("session end effects %+v, want one with reason reset", e)
	}
	if o := l.effects(EffOpenPinhole); len(o) != 0 {
		t.Errorf("pinholes opened: %+v", o)
	}
	if len(l.held) != 0 {
		t.Errorf("%d packets still held", len(l.held))
	}
}

func TestResetPolicy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		run      func(l *lab)
		receiver Dir
		reason   Reason
	}{
		{"bounce PORT in one segment", func(l *lab) {
			l.send(FromClient, "PORT 192,0,2,1,195,80\r\n")
		}, FromServer, ReasonBounce},
		{"low port EPRT split over three segments", func(l *lab) {
			l.send(FromClient, "EP")
			l.send(FromClient, "RT |1|198.51.100.7|")
			l.send(FromClient, "25|\r\n")
		}, FromServer, ReasonLowPort},
		{"227 to a third host", func(l *lab) {
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, "227 Entering Passive Mode (192,0,2,1,195,80).\r\n")
		}, FromClient, ReasonBounce},
		{"unsolicited 229", func(l *lab) {
			l.send(FromServer, "229 Entering Extended Passive Mode (|||50000|)\r\n")
		}, FromClient, ReasonUnsolicited},
		{"syntax error after out-of-order segments", func(l *lab) {
			c := l.ep[FromClient]
			line := "PORT 198,51,100,7,300,1\r\n"
			start := c.sndNxt
			l.sendAt(FromClient, start+6, line[6:])
			l.sendAt(FromClient, start, line[:6])
			c.sndNxt += uint32(len(line))
		}, FromServer, ReasonSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, Config{Policy: resetPolicy()}, cliAddr, srvAddr)
			login(l)
			l.clearLog()
			tc.run(l)
			checkReset(t, l, tc.receiver, tc.reason)
			// Everything after the reset is dropped, both ways.
			before := len(l.ep[FromServer].rcv)
			l.send(FromClient, "NOOP\r\n")
			if got := len(l.ep[FromServer].rcv); got != before {
				t.Errorf("server received %d bytes after the reset", got-before)
			}
			if v := l.deliver(FromServer, buildPacket(l.ep[FromServer].addr, l.ep[FromClient].addr, l.ep[FromServer].sndNxt, 0, 0x10, []byte("200 ok\r\n"))); v != Drop {
				t.Errorf("server packet after the reset: verdict %v, want drop", v)
			}
		})
	}
}

// After rewrites the RST's sequence number must be in the receiver's
// (rewritten) sequence space.
func TestResetAfterRewrites(t *testing.T) {
	tuples := Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: mustAP("10.200.200.200:21"), Dst: cliAddr}}
	l := newLab(t, Config{Policy: resetPolicy(), NAT: fakeNAT{tuples}}, cliAddr, mustAP("10.200.200.200:21"))
	login(l)
	for i := 0; i < 3; i++ {
		l.send(FromClient, "PASV\r\n")
		l.send(FromServer, "227 Entering Passive Mode (10,200,200,200,195,80).\r\n")
		l.ack(FromClient)
	}
	if got := string(l.ep[FromClient].rcv); !strings.Contains(got, "(203,0,113,10,") {
		t.Fatalf("no rewrite: %q", got)
	}
	l.clearLog()
	l.send(FromServer, "227 Entering Passive Mode (10,200,200,200,195,81).\r\n")
	if e := l.ep[FromClient]; e.resets != 1 || e.badResets != 0 {
		t.Fatalf("client got %d acceptable, %d unacceptable RSTs", e.resets, e.badResets)
	}
	if r := l.effects(EffReset); len(r) != 1 || r[0].Reason != ReasonUnsolicited {
		t.Fatalf("reset effects %+v", r)
	}
}

func TestRefuseIsTheDefault(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "PORT 192,0,2,1,195,80\r\n")
	if got := string(l.ep[FromServer].rcv); !strings.HasSuffix(got, "PORT "+refusal(len("192,0,2,1,195,80"))+"\r\n") {
		t.Fatalf("server received %q", got)
	}
	if len(l.effects(EffReset)) != 0 || l.ep[FromServer].resets != 0 {
		t.Fatal("default policy reset the session")
	}
	l.send(FromServer, "501 Illegal PORT command.\r\n")
	l.send(FromClient, "NOOP\r\n")
	if got := string(l.ep[FromServer].rcv); !strings.HasSuffix(got, "NOOP\r\n") {
		t.Fatalf("session did not go on: %q", got)
	}
}

func TestPinholeBudget(t *testing.T) {
	pol := DefaultPolicy()
	pol.MaxPinholes = 4
	pol.MaxClientPinholes = 3
	pol.MaxTotalPinholes = 5
	budget := NewBudget()
	cfg := Config{Policy: pol, Budget: budget}
	// Each session holds one pinhole (a PASV whose transfer is running).
	open := func(l *lab, port int) {
		l.send(FromClient, "PASV\r\n")
		l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,"+itoa(port)+").\r\n")
		l.send(FromClient, "RETR f\r\n")
		l.send(FromServer, "150 Opening\r\n")
	}
	var labs []*lab
	client := func(addr string, cport uint16) *lab {
		a := mustAP(addr)
		l := newLab(t, cfg, netip.AddrPortFrom(a.Addr(), cport), srvAddr)
		l.tr.budget = budget // one Tracker per session here; they share the budget as queues do
		login(l)
		labs = append(labs, l)
		return l
	}
	for i := 0; i < 3; i++ {
		open(client("198.51.100.7:1", uint16(40000+i)), 80+i)
	}
	if mine, total := budget.Held(cliAddr.Addr()); mine != 3 || total != 3 {
		t.Fatalf("held %d/%d, want 3/3", mine, total)
	}
	l4 := client("198.51.100.7:1", 40010)
	l4.clearLog()
	open(l4, 90)
	if v := l4.effects(EffViolation); len(v) != 1 || v[0].Reason != ReasonClientLimit {
		t.Fatalf("fourth pinhole of one client: violations %+v", v)
	}
	if got := string(l4.ep[FromClient].rcv); !strings.Contains(got, "425 Entering Passive Mode") {
		t.Fatalf("client saw %q, want the 227 turned into 425", got)
	}
	// Other clients fill the total.
	open(client("198.51.100.8:1", 40000), 100)
	open(client("198.51.100.9:1", 40000), 101)
	l7 := client("198.51.100.10:1", 40000)
	l7.clearLog()
	open(l7, 102)
	if v := l7.effects(EffViolation); len(v) != 1 || v[0].Reason != ReasonTotalLimit {
		t.Fatalf("sixth pinhole overall: violations %+v", v)
	}
	l7.send(FromServer, "425 Failed to establish connection.\r\n") // the refused transfer's final reply
	// Ending a session gives its pinhole back.
	labs[0].send(FromServer, "226 Done\r\n")
	if _, total := budget.Held(cliAddr.Addr()); total != 4 {
		t.Fatalf("total %d after a transfer ended, want 4", total)
	}
	l7.clearLog()
	open(l7, 103)
	if v := l7.effects(EffViolation); len(v) != 0 || len(l7.effects(EffOpenPinhole)) != 1 {
		t.Fatalf("after a pinhole was freed: %+v", l7.Effects)
	}
}

// Thousands of PASVs in one session: each supersedes the unused one
// before it, so the session, client and total counts never grow.
func TestManyPASVsDoNotExhaustTheBudget(t *testing.T) {
	pol := DefaultPolicy()
	pol.MaxClientPinholes = 2
	pol.MaxTotalPinholes = 2
	l := newLab(t, Config{Policy: pol}, cliAddr, srvAddr)
	login(l)
	for i := 0; i < 5000; i++ {
		l.send(FromClient, "PASV\r\n")
		l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,"+itoa(80+i%100)+").\r\n")
	}
	if v := l.effects(EffViolation); len(v) != 0 {
		t.Fatalf("violations: %v", v[0])
	}
	if mine, total := l.tr.budget.Held(cliAddr.Addr()); mine != 1 || total != 1 || l.tr.Pinholes() != 1 {
		t.Fatalf("held %d/%d, tracker %d pinholes, want 1", mine, total, l.tr.Pinholes())
	}
	l.send(FromClient, "QUIT\r\n")
	l.send(FromServer, "221 Bye\r\n")
	if mine, total := l.tr.budget.Held(cliAddr.Addr()); mine != 0 || total != 0 || l.tr.budget.Clients() != 0 {
		t.Fatalf("after QUIT held %d/%d", mine, total)
	}
}

func tlsLab(t *testing.T, rule TLSRule, nat NATLookup, server string) *lab {
	t.Helper()
	return newLab(t, Config{TLS: map[uint16]TLSRule{21: rule}, NAT: nat}, cliAddr, mustAP(server))
}

func TestTLSBlock(t *testing.T) {
	l := tlsLab(t, TLSRule{Mode: TLSBlock}, nil, srvAddr.String())
	login(l)
	l.clearLog()
	l.send(FromClient, "AU")
	l.send(FromClient, "TH TLS\r\n")
	if got := string(l.ep[FromServer].rcv); !strings.HasSuffix(got, "\r\nAUTH ref\r\n") {
		t.Fatalf("server received %q", got)
	}
	if v := l.effects(EffViolation); len(v) != 1 || v[0].Reason != ReasonTLSBlocked {
		t.Fatalf("violations %+v", v)
	}
	l.send(FromServer, "504 Unknown AUTH type.\r\n")
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	if len(l.effects(EffOpenPinhole)) != 1 || len(l.effects(EffOpaque)) != 0 {
		t.Fatalf("plain FTP after the refused AUTH: %+v", l.Effects)
	}

	// A server that accepts an AUTH the policy blocks (here: one the
	// inspector could not rewrite) gets the session reset.
	l = tlsLab(t, TLSRule{Mode: TLSBlock}, nil, srvAddr.String())
	login(l)
	l.clearLog()
	l.tr.tls[21] = TLSRule{Mode: TLSAllow} // let the AUTH pass unchanged ...
	l.tr.sessions[Flow{Client: cliAddr, Server: srvAddr}].tls = TLSRule{Mode: TLSAllow}
	l.send(FromClient, "AUTH TLS\r\n")
	l.tr.sessions[Flow{Client: cliAddr, Server: srvAddr}].tls = TLSRule{Mode: TLSBlock} // ... then block again
	l.send(FromServer, "234 Proceed.\r\n")
	checkReset(t, l, FromClient, ReasonTLSBlocked)
}

func TestTLSPassthroughRange(t *testing.T) {
	rule := TLSRule{Mode: TLSPassthroughRange, PassiveLo: 30000, PassiveHi: 30031}
	tuples := Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: mustAP("10.0.0.5:21"), Dst: cliAddr}}
	l := tlsLab(t, rule, fakeNAT{tuples}, "10.0.0.5:21")
	login(l)
	l.clearLog()
	l.send(FromClient, "AUTH TLS\r\n")
	l.send(FromServer, "234 Proceed.\r\n")
	o := l.effects(EffOpenRange)
	want := PortRange{Src: cliAddr.Addr(), Dst: mustA("10.0.0.5"), Lo: 30000, Hi: 30031, Public: srvAddr.Addr()}
	if len(o) != 1 || o[0].Range != want || o[0].Timeout != DefaultPolicy().SessionIdle {
		t.Fatalf("open range effects %+v, want %v", o, want)
	}
	if mine, _ := l.tr.budget.Held(cliAddr.Addr()); mine != 1 {
		t.Fatalf("range holds %d of the client's budget, want 1", mine)
	}
	rec := func(typ byte, n int) string {
		return string([]byte{typ, 3, 3, byte(n >> 8), byte(n)}) + strings.Repeat("x", n)
	}
	l.send(FromClient, rec(22, 300)+rec(23, 40))
	l.send(FromServer, rec(22, 2000))
	if len(l.effects(EffCloseRange)) != 0 {
		t.Fatal("range closed while TLS lasts")
	}
	// CCC: both sides close TLS, then clear text.
	l.send(FromServer, rec(23, 40)+rec(21, 26))
	l.send(FromClient, rec(21, 26))
	l.send(FromClient, "PASV\r\n")
	c := l.effects(EffCloseRange)
	if len(c) != 1 || c[0].ID != o[0].ID || c[0].Reason != ReasonCleared {
		t.Fatalf("close range effects %+v", c)
	}
	l.send(FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
	if len(l.effects(EffOpenPinhole)) != 1 {
		t.Fatalf("no pinhole after CCC: %+v", l.Effects)
	}

	// Without CCC the range lasts until the session ends.
	l = tlsLab(t, rule, nil, srvAddr.String())
	login(l)
	l.send(FromClient, "AUTH TLS\r\n")
	l.send(FromServer, "234 Proceed.\r\n")
	o = l.effects(EffOpenRange)
	if len(o) != 1 || o[0].Range.Public.IsValid() {
		t.Fatalf("open range without NAT: %+v", o)
	}
	l.tr.EndFlow(Flow{Client: cliAddr, Server: srvAddr}, l.now.Add(time.Second), &l.res)
	l.collect(FromClient, 0, nil)
	if c := l.effects(EffCloseRange); len(c) != 1 || c[0].Reason != ReasonSessionEnd {
		t.Fatalf("close range at session end: %+v", c)
	}
	if _, total := l.tr.budget.Held(cliAddr.Addr()); total != 0 {
		t.Fatalf("budget not returned: %d", total)
	}
}

// A 227 injected far ahead of the server's stream (outside its window) is
// never parsed: the client never acknowledges it, so no gap is declared;
// it leaves unchanged, and the session goes on.
func TestSpoofedAheadOfWindowIsNotParsed(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "PASV\r\n")
	srv := l.ep[FromServer]
	spoof := buildPacket(srvAddr, cliAddr, srv.sndNxt+100000, l.ep[FromServer].rcvNxt, 0x18, []byte("227 Entering Passive Mode (203,0,113,10,4,1).\r\n"))
	l.clearLog()
	if v := l.deliver(FromServer, spoof); v != Hold {
		t.Fatalf("spoofed segment: verdict %v, want hold (out of order)", v)
	}
	l.tick(time.Second)
	if o := l.effects(EffOpenPinhole); len(o) != 0 {
		t.Fatalf("pinhole for a spoofed 227: %+v", o)
	}
	if len(l.held) != 0 {
		t.Fatalf("spoofed segment still held")
	}
	// The real reply, in order, is parsed as usual.
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	o := l.effects(EffOpenPinhole)
	if len(o) != 1 || o[0].Pinhole.Dst.Port() != 50000 {
		t.Fatalf("pinholes after the real 227: %+v", o)
	}
	// And the session's end is still seen.
	l.send(FromClient, "QUIT\r\n")
	l.send(FromServer, "221 Bye\r\n")
	if c := l.effects(EffClosePinhole); len(c) != 1 || c[0].Reason != ReasonQuit {
		t.Fatalf("close effects %+v", c)
	}
}

// Bytes that passed without the inspector (a bypassed queue) are
// acknowledged by the receiver: then the gap is real, and inspection
// resumes with the segment after it, which starts a line: the 227 that
// answers the PASV after the gap is rewritten and opens its pinhole.
func TestConfirmedGapResyncs(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	srv, cli := l.ep[FromServer], l.ep[FromClient]
	l.send(FromClient, "NOOP\r\n")
	skipped := "200 NOOP ok (this reply bypassed the queue)\r\n"
	srv.sndNxt += uint32(len(skipped))
	cli.rcvNxt += uint32(len(skipped))
	l.ack(FromClient) // acknowledges bytes the inspector never saw
	l.send(FromClient, "PASV\r\n")
	l.clearLog()
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	resynced := false
	for _, ev := range l.Events {
		resynced = resynced || ev.Reason == ReasonGap && ev.Decision == "resync"
	}
	if !resynced {
		t.Fatalf("events %+v, want a resync", l.Events)
	}
	if o := l.effects(EffOpenPinhole); len(o) != 1 || o[0].Pinhole.Dst.Port() != 50000 {
		t.Fatalf("the PASV after the gap: %+v", l.Effects)
	}
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,81).\r\n")
	if o := l.effects(EffOpenPinhole); len(o) != 2 || o[1].Pinhole.Dst.Port() != 50001 {
		t.Fatalf("after the gap: %+v", l.Effects)
	}
}

// TestBypassBothWays: both directions crossed without ftpalg (a flushed
// table, a fail-open overrun). The client's next command arrives ahead of
// what ftpalg saw, acknowledging server bytes ftpalg never saw either:
// that proves the bypass, so the command is inspected at once (not held),
// and the server's 227 after its own hole pairs with it and is rewritten.
func TestBypassBothWays(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	srv, cli := l.ep[FromServer], l.ep[FromClient]
	for _, x := range []struct{ c, s string }{{"NOOP\r\n", "200 NOOP ok.\r\n"}, {"PWD\r\n", "257 \"/\"\r\n"}} {
		cli.sndNxt += uint32(len(x.c))
		srv.rcvNxt += uint32(len(x.c))
		srv.sndNxt += uint32(len(x.s))
		cli.rcvNxt += uint32(len(x.s))
	}
	if v := l.deliver(FromClient, buildPacket(cli.addr, srv.addr, cli.sndNxt, cli.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte("PASV\r\n"))); v == Hold {
		t.Fatal("PASV after a proven bypass was held")
	}
	cli.sndNxt += 6
	l.send(FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
	if o := l.effects(EffOpenPinhole); len(o) != 1 {
		t.Fatalf("pinholes %+v; events %+v", o, l.Events)
	}
	if got := string(cli.rcv); !strings.HasSuffix(got, "227 Entering Passive  (203,0,113,10,195,80).\r\n") {
		t.Fatalf("client got %q", got)
	}
	// A segment ahead whose ACK is normal is held, as before.
	if v := l.deliver(FromClient, buildPacket(cli.addr, srv.addr, cli.sndNxt+10, cli.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte("PORT 198,51,100,7,200,10\r\n"))); v != Hold {
		t.Fatalf("segment ahead with a plain ACK: %v, want hold", v)
	}
}

// The DESTROY of a closed conntrack entry ends only a session that saw
// its close: a live session on the same ports is a newer connection.
func TestEndClosedFlow(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	f := Flow{Client: cliAddr, Server: srvAddr}
	if l.tr.EndClosedFlow(f, l.now, &l.res) || l.tr.Sessions() != 1 {
		t.Fatal("a live session was ended by a closed entry's DESTROY")
	}
	l.send(FromClient, "QUIT\r\n")
	l.send(FromServer, "221 Bye\r\n")
	c, s := l.ep[FromClient], l.ep[FromServer]
	l.deliver(FromServer, buildPacket(s.addr, c.addr, s.sndNxt, c.sndNxt, 0x11, nil))
	s.sndNxt++
	l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt, s.sndNxt, 0x11, nil))
	if !l.tr.EndClosedFlow(f, l.now, &l.res) || l.tr.Sessions() != 0 {
		t.Fatal("an ended session was kept after its entry's DESTROY")
	}
}

// TestLostRepliesDoNotShiftPairing: replies that crossed without ftpalg
// leave their commands pending; a 227 still pairs with the PASV it
// answers, not with the oldest command left over (seen in the fail-open
// overrun of TestSessionsOutliveFtpalg).
func TestLostRepliesDoNotShiftPairing(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	srv, cli := l.ep[FromServer], l.ep[FromClient]
	l.send(FromClient, "NOOP\r\n")
	l.send(FromClient, "NOOP\r\n")
	skipped := "200 NOOP ok.\r\n200 NOOP ok.\r\n"
	srv.sndNxt += uint32(len(skipped))
	cli.rcvNxt += uint32(len(skipped))
	l.send(FromClient, "NOOP\r\n")
	l.send(FromServer, "200 NOOP ok.\r\n")
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	if o := l.effects(EffOpenPinhole); len(o) != 1 {
		t.Fatalf("pinholes %+v; events %+v", o, l.Events)
	}
	if v := l.effects(EffViolation); len(v) != 0 {
		t.Fatalf("violations %+v", v)
	}
}
