package conntrack

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	cliAddr = mustAP("198.51.100.7:40000")
	srvAddr = mustAP("203.0.113.10:21")
)

// login runs the greeting and a login on a fresh lab.
func login(l *lab) {
	l.handshake()
	l.send(FromServer, "220 (vsFTPd 3.0.3)\r\n")
	l.send(FromClient, "USER anonymous\r\n")
	l.send(FromServer, "331 Please specify the password.\r\n")
	l.send(FromClient, "PASS x\r\n")
	l.send(FromServer, "230 Login successful.\r\n")
}

func TestPassiveWithoutNAT(t *testing.T) {
	l := newLab(t, Config{}, cliAddr, srvAddr)
	login(l)
	l.send(FromClient, "PASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n")
	opens := l.effects(EffOpenPinhole)
	if len(opens) != 1 {
		t.Fatalf("got %d pinholes, want 1: %+v", len(opens), l.Effects)
	}
	want := Pinhole{Src: cliAddr.Addr(), Dst: mustAP("203.0.113.10:50000")}
	if opens[0].Pinhole != want || opens[0].HasMap || opens[0].Timeout != 30*time.Second {
		t.Fatalf("pinhole %+v, want %v without mapping, 30s", opens[0], want)
	}
	if got := string(l.ep[FromClient].rcv); !strings.HasSuffix(got, "227 Entering Passive Mode (203,0,113,10,195,80).\r\n") {
		t.Fatalf("client received %q", got)
	}
	// The transfer's final reply closes the pinhole.
	l.send(FromClient, "RETR f\r\n")
	l.send(FromServer, "150 Opening\r\n")
	l.send(FromServer, "226 Done\r\n")
	if c := l.effects(EffClosePinhole); len(c) != 1 || c[0].Reason != ReasonTransferDone {
		t.Fatalf("close effects %+v", c)
	}
}

// natLab is a gateway in front of a server: the client talks to
// 203.0.113.10:21, the server really is srvReal.
func natLab(t *testing.T, srvReal string) *lab {
	t.Helper()
	real := mustAP(srvReal)
	tuples := Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: real, Dst: cliAddr}}
	// In the forward hook the packets show the client and the real server.
	return newLab(t, Config{NAT: fakeNAT{tuples}}, cliAddr, real)
}

func TestPassiveBehindDNATGrowAndShrink(t *testing.T) {
	// The free text absorbs the difference (no resize) where it can; a
	// port with fewer digits helps where it cannot; a 227 with no free
	// text that grows resizes the session.
	for _, tc := range []struct {
		real, line, want string
		public           uint16
		resized          bool
	}{
		{"10.0.0.5:21", "227 Entering Passive Mode (10,0,0,5,195,80).", "227 Entering Passive  (203,0,113,10,195,80).", 50000, false},
		{"10.200.200.200:21", "227 Entering Passive Mode (10,200,200,200,195,80).", "227 Entering Passive Mode   (203,0,113,10,195,80).", 50000, false},
		{"10.0.0.5:21", "227 =10,0,0,5,195,80", "227 203,0,113,10,4,0", 1024, false},
		{"10.0.0.5:21", "227 Entering Passive Mode 10,0,0,5,195,80", "227 Entering Passive  203,0,113,10,195,80", 50000, false},
		{"10.200.200.200:21", "227 (10,200,200,200,195,80).", "227   (203,0,113,10,195,80).", 50000, false},
		{"10.0.0.5:21", "227 (10,0,0,5,195,80).", "227 (203,0,113,10,195,80).", 50000, true},
	} {
		t.Run(tc.line, func(t *testing.T) {
			l := natLab(t, tc.real)
			login(l)
			l.send(FromClient, "PASV\r\n")
			l.send(FromServer, tc.line+"\r\n")
			if got := string(l.ep[FromClient].rcv); !strings.HasSuffix(got, tc.want+"\r\n") {
				t.Fatalf("client received %q, want suffix %q", got, tc.want)
			}
			opens, maps := l.effects(EffOpenPinhole), l.effects(EffMapData)
			if len(opens) != 1 || len(maps) != 1 {
				t.Fatalf("effects %+v", l.Effects)
			}
			real := mustAP(tc.real).Addr()
			if opens[0].Pinhole.Dst.Addr() != real || opens[0].Pinhole.Dst.Port() != 50000 || opens[0].Pinhole.Src != cliAddr.Addr() {
				t.Fatalf("pinhole %v", opens[0].Pinhole)
			}
			m := maps[0].Mapping
			if m.Dst != netip.AddrPortFrom(mustA("203.0.113.10"), tc.public) || m.ToDst.Addr() != real || m.ToSrc.IsValid() {
				t.Fatalf("mapping %v", m)
			}
			if n := len(l.effects(EffResized)); n != 0 != tc.resized {
				t.Fatalf("%d resized effects, want resized %v", n, tc.resized)
			}
			// Later traffic in both directions stays consistent.
			l.send(FromClient, "LIST\r\n")
			l.send(FromServer, "150 Here comes the directory listing.\r\n")
			l.send(FromServer, "226 Directory send OK.\r\n")
			l.ack(FromClient)
			srv := l.ep[FromServer]
			if srv.acked != srv.sndNxt {
				t.Fatalf("server sees ack %d, sent up to %d", srv.acked, srv.sndNxt)
			}
			if !strings.HasSuffix(string(l.ep[FromClient].rcv), "226 Directory send OK.\r\n") {
				t.Fatalf("client stream %q", l.ep[FromClient].rcv)
			}
		})
	}
}

func TestManyRewritesInOneSession(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	var want strings.Builder
	want.Write(l.ep[FromClient].rcv)
	for i := 0; i < 100; i++ {
		// Alternate lines that grow and shrink: 10.0.0.5 vs. 203.0.113.10
		// grows by 6; a port that drops digits shrinks the rest.
		// No free text, and ports of at most six characters: every line
		// grows and no public port can keep its length, so each resizes.
		p1, p2 := 4+i%90, (i*37)%256
		l.send(FromClient, "PASV\r\n")
		l.send(FromServer, fmt.Sprintf("227 (10,0,0,5,%d,%d).\r\n", p1, p2))
		want.WriteString(fmt.Sprintf("227 (203,0,113,10,%d,%d).\r\n", p1, p2))
		l.send(FromClient, "RETR x\r\n")
		l.send(FromServer, "150 ok\r\n226 done\r\n")
		want.WriteString("150 ok\r\n226 done\r\n")
		if i%3 == 0 {
			l.ack(FromClient)
		}
	}
	l.ack(FromClient)
	if got := string(l.ep[FromClient].rcv); got != want.String() {
		t.Fatalf("client stream differs:\n got %q\nwant %q", got[len(got)-200:], want.String()[want.Len()-200:])
	}
	if srv := l.ep[FromServer]; srv.acked != srv.sndNxt {
		t.Fatalf("server sees ack %d, sent up to %d", srv.acked, srv.sndNxt)
	}
	if n := len(l.effects(EffOpenPinhole)); n != 100 {
		t.Fatalf("%d pinholes opened, want 100", n)
	}
	if n := l.tr.Pinholes(); n != 0 {
		t.Fatalf("%d pinholes outstanding after the transfers", n)
	}
}

func TestActiveBehindMasquerade(t *testing.T) {
	priv := mustAP("10.1.1.2:40001")
	pub := mustAP("198.51.100.1:61000")
	srv := mustAP("203.0.113.20:21")
	tuples := Tuples{Orig: Tuple{Src: priv, Dst: srv}, Reply: Tuple{Src: srv, Dst: pub}}
	l := newLab(t, Config{NAT: fakeNAT{tuples}}, priv, srv)
	login(l)
	l.send(FromClient, "PORT 10,1,1,2,200,10\r\n")
	if got := string(l.ep[FromServer].rcv); !strings.HasSuffix(got, "PORT 198,51,100,1,200,10\r\n") {
		t.Fatalf("server received %q", got)
	}
	l.send(FromServer, "200 PORT command successful.\r\n")
	l.send(FromClient, "EPRT |1|10.1.1.2|51001|\r\n")
	if got := string(l.ep[FromServer].rcv); !strings.HasSuffix(got, "EPRT |1|198.51.100.1|51001|\r\n") {
		t.Fatalf("server received %q", got)
	}
	maps := l.effects(EffMapData)
	if len(maps) != 2 {
		t.Fatalf("mappings %+v", maps)
	}
	m := maps[0].Mapping
	if m.Src != srv.Addr() || m.Dst != mustAP("198.51.100.1:51210") || m.ToDst != mustAP("10.1.1.2:51210") || m.ToSrc.IsValid() {
		t.Fatalf("mapping %v", m)
	}
	if ph := maps[0].Pinhole; ph.Src != srv.Addr() || ph.Dst != mustAP("10.1.1.2:51210") {
		t.Fatalf("pinhole %v", ph)
	}
	// The first PORT was superseded by the EPRT.
	if c := l.effects(EffClosePinhole); len(c) != 1 || c[0].Reason != ReasonSuperseded {
		t.Fatalf("closes %+v", c)
	}
	// The server's acks reach the client in its own sequence space.
	l.send(FromServer, "200 EPRT command successful.\r\n")
	l.ack(FromServer)
	if c := l.ep[FromClient]; c.acked != c.sndNxt {
		t.Fatalf("client sees ack %d, sent up to %d", c.acked, c.sndNxt)
	}
}

func TestPortConflictPicksAnotherPublicPort(t *testing.T) {
	ports := NewPortRegistry()
	mk := func(real string, cport uint16) *lab {
		r := mustAP(real)
		c := mustAP(fmt.Sprintf("198.51.100.7:%d", cport))
		tu := Tuples{Orig: Tuple{Src: c, Dst: srvAddr}, Reply: Tuple{Src: r, Dst: c}}
		return newLab(t, Config{NAT: fakeNAT{tu}, Ports: ports}, c, r)
	}
	a, b := mk("10.0.0.5:21", 40000), mk("10.0.0.6:21", 40001)
	for _, l := range []*lab{a, b} {
		login(l)
		l.send(FromClient, "EPSV\r\n")
	}
	a.send(FromServer, "229 Entering Extended Passive Mode (|||30000|)\r\n")
	b.send(FromServer, "229 Entering Extended Passive Mode (|||30000|)\r\n")
	if got := string(a.ep[FromClient].rcv); !strings.HasSuffix(got, "(|||30000|)\r\n") {
		t.Fatalf("first client got %q", got)
	}
	if got := string(b.ep[FromClient].rcv); !strings.HasSuffix(got, "(|||30001|)\r\n") {
		t.Fatalf("second client got %q, want port 30001", got)
	}
	m := b.effects(EffMapData)[0].Mapping
	if m.Dst != mustAP("203.0.113.10:30001") || m.ToDst != mustAP("10.0.0.6:30000") {
		t.Fatalf("mapping %v", m)
	}
}

func TestSplitAnnouncementIsHeldAndRewritten(t *testing.T) {
	line := "227 Entering Passive Mode (10,0,0,5,195,80).\r\n"
	for _, step := range []int{1, 3, 10, 30} {
		t.Run(fmt.Sprint(step), func(t *testing.T) {
			l := natLab(t, "10.0.0.5:21")
			login(l)
			l.send(FromClient, "PASV\r\n")
			before := len(l.ep[FromClient].rcv)
			for i := 0; i < len(line); i += step {
				l.send(FromServer, line[i:min(i+step, len(line))])
				if v := l.res.Verdict; i+step < len(line) && v != Hold {
					t.Fatalf("segment at %d: verdict %v, want hold", i, v)
				}
			}
			got := string(l.ep[FromClient].rcv[before:])
			if got != "227 Entering Passive  (203,0,113,10,195,80).\r\n" {
				t.Fatalf("client received %q", got)
			}
			l.send(FromServer, "150 x\r\n")
			l.ack(FromClient)
			if srv := l.ep[FromServer]; srv.acked != srv.sndNxt {
				t.Fatalf("server sees ack %d, sent up to %d", srv.acked, srv.sndNxt)
			}
		})
	}
}

func TestRetransmissionOfRewrittenSegment(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	l.send(FromClient, "PASV\r\n")
	seq := l.ep[FromServer].sndNxt
	l.send(FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
	first := append([]byte(nil), l.res.Packet...)
	l.sendAt(FromServer, seq, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
	if l.res.Verdict != AcceptModified || string(l.res.Packet) != string(first) {
		t.Fatalf("retransmission rewritten differently:\n%x\n%x", l.res.Packet, first)
	}
	if n := len(l.effects(EffOpenPinhole)); n != 1 {
		t.Fatalf("retransmission opened %d pinholes", n)
	}
}

func TestSACKBlocksFollowTheData(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	l.send(FromClient, "PASV\r\n")
	// No free text: the line must grow (a resized session).
	l.send(FromServer, "227 (10,0,0,5,195,80).\r\n")
	s0 := l.ep[FromServer].sndNxt
	l.send(FromServer, "150 a\r\n")
	l.send(FromServer, "226 b\r\n")
	// The client SACKs the second line (output space: shifted by +6).
	c := l.ep[FromClient]
	left, right := s0+4+7, s0+4+14 // the 227 line grew by 4
	l.ack(FromClient, [2]uint32{left, right})
	var p = l.res.Packet
	if l.res.Verdict != AcceptModified {
		t.Fatalf("verdict %v", l.res.Verdict)
	}
	// SACK option sits after two NOPs in the 12-byte option area.
	opt := p[20+20+4:]
	gl, gr := be32(opt[0:]), be32(opt[4:])
	if gl != s0+7 || gr != s0+14 {
		t.Fatalf("SACK [%d,%d), want [%d,%d)", gl, gr, s0+7, s0+14)
	}
	_ = c
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func TestOutOfOrderSegmentsAreReassembled(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	l.send(FromClient, "PASV\r\n")
	a, b := "227 Entering Passive ", "Mode (10,0,0,5,195,80).\r\n"
	seq := l.ep[FromServer].sndNxt
	l.ep[FromServer].sndNxt += uint32(len(a) + len(b))
	l.sendAt(FromServer, seq+uint32(len(a)), b) // arrives first
	if l.res.Verdict != Hold {
		t.Fatalf("out-of-order segment: %v, want hold", l.res.Verdict)
	}
	l.sendAt(FromServer, seq, a)
	if got := string(l.ep[FromClient].rcv); !strings.HasSuffix(got, "227 Entering Passive  (203,0,113,10,195,80).\r\n") {
		t.Fatalf("client received %q", got)
	}
}

func TestHoldTimeoutReleasesUnchanged(t *testing.T) {
	l := natLab(t, "10.0.0.5:21")
	login(l)
	// A client typing with Nagle: "P" goes alone and is held; the rest
	// only follows once "P" is acknowledged.
	l.send(FromClient, "P")
	if l.res.Verdict != Hold {
		t.Fatalf("verdict %v, want hold", l.res.Verdict)
	}
	l.tick(300 * time.Millisecond)
	if got := string(l.ep[FromServer].rcv); !strings.HasSuffix(got, "PASS x\r\nP") {
		t.Fatalf("after the hold timeout the server has %q", got)
	}
	l.send(FromClient, "ASV\r\n")
	l.send(FromServer, "227 Entering Passive Mode (10,0,0,5,195,80).\r\n")
	if len(l.effects(EffOpenPinhole)) != 1 {
		t.Fatalf("the PASV split by a hold timeout was lost: %+v", l.Effects)
	}
	// A PORT whose address was already forwarded cannot be rewritten:
	// refused, no pinhole.
	priv, srv := mustAP("10.1.1.2:40001"), mustAP("203.0.113.20:21")
	l = newLab(t, Config{NAT: fakeNAT{Tuples{Orig: Tuple{Src: priv, Dst: srv}, Reply: Tuple{Src: srv, Dst: mustAP("198.51.100.1:61000")}}}}, priv, srv)
	login(l)
	l.send(FromClient, "PORT 10,1,")
	l.tick(300 * time.Millisecond)
	l.send(FromClient, "1,2,200,1\r\n")
	if len(l.effects(EffOpenPinhole)) != 0 {
		t.Fatalf("pinhole opened for an unrewritable PORT: %+v", l.Effects)
	}
	if v := l.effects(EffViolation); len(v) == 0 || v[0].Reason != ReasonSplitForwarded {
		t.Fatalf("violations %+v", v)
	}
}
