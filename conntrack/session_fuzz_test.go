package conntrack

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds a whole control session through the Tracker: client
// and server byte streams cut into segments by ops, with reordering,
// retransmissions (some with different bytes) and hold timeouts. It must
// never panic, every packet it emits must carry valid checksums (the lab
// checks), and every pinhole must be one the streams legitimately
// announced: a PORT/EPRT at a client line start naming the client, or a
// 227/229 at a server line start naming the server, in either NAT view;
// with NAT on (the server behind DNAT), the pinhole and its mapping must
// be the translated view of that announcement (checkLegit).
func FuzzSession(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\nPASV\r\nRETR x\r\nPORT 198,51,100,7,200,10\r\nQUIT\r\n"),
		[]byte("220 hi\r\n331 p\r\n230 ok\r\n227 Entering Passive Mode (203,0,113,10,195,80).\r\n150 x\r\n226 y\r\n200 ok\r\n221 bye\r\n"),
		[]byte{0x03, 0x12, 0x07, 0x44, 0x85, 0xc0, 0x21, 0x02, 0x7f}, false)
	f.Add([]byte("PASV\r\nEPSV\r\nEPRT |1|198.51.100.7|51210|\r\n"),
		[]byte("220 x\r\n227 =10,0,0,5,195,80\r\n229 ok (|||6446|)\r\n200 ok\r\n"),
		[]byte{0x01, 0x00, 0x41, 0x80, 0x02, 0x03}, true)
	f.Add([]byte("AUTH TLS\r\n\x16\x03\x01\x00\x01xPORT 198,51,100,7,200,10\r\n"),
		[]byte("220 x\r\n234 go\r\n\x16\x03\x03\x00\x02ab227 (203,0,113,10,195,80)\r\n"),
		[]byte{0x09, 0x0b, 0x0d}, false)
	f.Add([]byte("NOOP\nPORT 198,51,100,7,200,10\r\nRETR PORT 198,51,100,7,200,11\r\n"),
		[]byte("220-a\r\n227 Entering Passive Mode (203,0,113,10,195,80)\r\n220 b\r\n"),
		[]byte{0xff, 0xfe, 0x01}, false)
	// A whole session that opens pinholes both ways, with and without NAT:
	// the greeting, then the client's stream, then the server's, 32 bytes
	// a segment.
	for _, nat := range []bool{false, true} {
		f.Add([]byte("USER a\r\nPASS b\r\nPASV\r\nRETR x\r\nPORT 198,51,100,7,200,10\r\nEPSV\r\n"),
			[]byte("220 hi\r\n331 p\r\n230 ok\r\n227 Entering Passive Mode (10,0,0,5,195,80).\r\n150 x\r\n226 y\r\n200 ok\r\n229 ok (|||6446|)\r\n"),
			[]byte{0x0f, 0x3e, 0x3e, 0x3f, 0x3f, 0x3f, 0x3f}, nat)
	}
	f.Fuzz(func(t *testing.T, client, server, ops []byte, nat bool) {
		if len(client) > 4096 || len(server) > 4096 || len(ops) > 512 {
			return
		}
		cfg := Config{}
		srv := srvAddr
		tu := IdentityTuples(Flow{Client: cliAddr, Server: srvAddr})
		if nat {
			srv = mustAP("10.0.0.5:21")
			tu = Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: srv, Dst: cliAddr}}
			cfg.NAT = fakeNAT{tu}
		}
		l := newLab(t, cfg, cliAddr, srv)
		l.handshake()
		streams := [2][]byte{client, server}
		var off [2]int
		var sent [2][][2]int // segments sent per direction: [start, end)
		base := [2]uint32{l.ep[0].sndNxt, l.ep[1].sndNxt}
		for _, op := range ops {
			d := Dir(op & 1)
			n := int(op>>1&31) + 1
			switch op >> 6 {
			case 0, 1: // next segment
				if off[d] >= len(streams[d]) {
					continue
				}
				end := min(off[d]+n, len(streams[d]))
				l.sendAt(d, base[d]+uint32(off[d]), string(streams[d][off[d]:end]))
				sent[d] = append(sent[d], [2]int{off[d], end})
				off[d] = end
				l.ep[d].sndNxt = base[d] + uint32(end)
			case 2: // the segment after next first, then the next (reordering)
				if off[d] >= len(streams[d]) {
					continue
				}
				mid := min(off[d]+n, len(streams[d]))
				end := min(mid+n, len(streams[d]))
				if end > mid {
					l.sendAt(d, base[d]+uint32(mid), string(streams[d][mid:end]))
				}
				l.sendAt(d, base[d]+uint32(off[d]), string(streams[d][off[d]:mid]))
				sent[d] = append(sent[d], [2]int{off[d], end})
				off[d] = end
				l.ep[d].sndNxt = base[d] + uint32(end)
			case 3:
				if len(sent[d]) == 0 || op&2 != 0 {
					l.tick(time.Duration(op&0x3c) * 10 * time.Millisecond)
					continue
				}
				// Retransmit an earlier segment, with changed bytes when
				// bit 2 is set.
				s := sent[d][int(op>>2&7)%len(sent[d])]
				b := append([]byte(nil), streams[d][s[0]:s[1]]...)
				if op&4 != 0 {
					for i := range b {
						b[i] ^= 0x20
					}
				}
				l.sendAt(d, base[d]+uint32(s[0]), string(b))
			}
			l.ack(1 - d)
		}
		l.tick(time.Second)
		l.tick(time.Minute)
		checkLegit(t, l, tu, client, server)
	})
}

// checkLegit verifies every opened pinhole, and its NAT mapping, against an
// independent reading of the streams (the oracle below: its own line
// splitting and parsers, written from the README grammar, sharing no code
// with the inspector). tu are the control connection's tuples: a pinhole
// may exist only for an endpoint the announcing side legitimately named
// (its own address, in either NAT view, and a port of at least 1024), and
// it and its mapping must be the translated view of that announcement.
func checkLegit(t *testing.T, l *lab, tu Tuples, client, server []byte) {
	t.Helper()
	cliOwn, cliSeen := tu.Orig.Src.Addr(), tu.Reply.Dst.Addr() // the client, and the client as the server sees it
	srvOwn, srvSeen := tu.Reply.Src.Addr(), tu.Orig.Dst.Addr() // the server, and the server as the client sees it
	active := map[uint16]bool{}                                // ports the client legitimately announced
	passive := map[uint16]bool{}                               // ports the server legitimately announced
	for _, line := range oracleLines(client) {
		verb, arg := oracleCommand(line)
		var ap netip.AddrPort
		var ok bool
		switch strings.ToUpper(verb) {
		case "PORT":
			ap, ok = oraclePORT(arg)
		case "EPRT":
			ap, ok = oracleEPRT(arg)
		}
		if ok && (ap.Addr() == cliOwn || ap.Addr() == cliSeen) && ap.Port() >= 1024 {
			active[ap.Port()] = true
		}
	}
	for _, line := range oracleLines(server) {
		if len(line) < 3 || len(line) > 3 && isASCIIDigit(line[3]) {
			continue
		}
		text := string(line[3:])
		switch string(line[:3]) {
		case "227":
			if ap, ok := oracle227(text); ok && (ap.Addr() == srvOwn || ap.Addr() == srvSeen) && ap.Port() >= 1024 {
				passive[ap.Port()] = true
			}
		case "229":
			if p, ok := oracle229(text); ok && p >= 1024 {
				passive[p] = true
			}
		}
	}
	maps := map[uint64]Effect{}
	for _, e := range l.effects(EffMapData) {
		maps[e.ID] = e
	}
	for _, e := range l.effects(EffOpenPinhole) {
		ph := e.Pinhole
		// The listener's own endpoint, and how the initiator knows it.
		var initiator, initiatorSeen, listener, listenerSeen netip.Addr
		switch {
		case ph.Src == cliOwn && ph.Dst.Addr() == srvOwn && passive[ph.Dst.Port()]:
			initiator, initiatorSeen, listener, listenerSeen = cliOwn, cliSeen, srvOwn, srvSeen
		case ph.Src == srvOwn && ph.Dst.Addr() == cliOwn && active[ph.Dst.Port()]:
			initiator, initiatorSeen, listener, listenerSeen = srvOwn, srvSeen, cliOwn, cliSeen
		default:
			t.Fatalf("pinhole %v: not a legitimate announcement (client announced ports %v, server %v); events %+v", ph, active, passive, l.Events)
		}
		needMap := initiatorSeen != initiator || listenerSeen != listener
		m, mapped := maps[e.ID]
		if e.HasMap != needMap || mapped != needMap {
			t.Fatalf("pinhole %v: mapping %v (effect %v), want %v", ph, e.HasMap, mapped, needMap)
		}
		if !needMap {
			continue
		}
		want := Mapping{Src: initiator, Dst: netip.AddrPortFrom(listenerSeen, m.Mapping.Dst.Port()), ToDst: ph.Dst}
		if initiatorSeen != initiator {
			want.ToSrc = initiatorSeen
		}
		if m.Mapping != want || e.Mapping != want || m.Pinhole != ph {
			t.Fatalf("pinhole %v: mapping %v (open effect %v), want %v", ph, m.Mapping, e.Mapping, want)
		}
		if p := want.Dst.Port(); p < 1024 || listenerSeen == listener && p != ph.Dst.Port() {
			t.Fatalf("pinhole %v: mapping %v announces port %d", ph, m.Mapping, p)
		}
	}
}

// ---- the oracle: an independent reading of the README grammar ----

func isASCIIDigit(c byte) bool { return '0' <= c && c <= '9' }

// oracleNumber reads 1 to max ASCII digits, nothing else.
func oracleNumber(s string, max int) (int, bool) {
	if len(s) == 0 || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isASCIIDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// oracleCommand splits a command line into its verb (up to the first SP or
// HTAB) and its argument (the rest, without the blanks around it).
func oracleCommand(line []byte) (verb, arg string) {
	s := strings.TrimRight(string(line), " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// oracleTuple reads exactly "h1,h2,h3,h4,p1,p2": six numbers of 1-3
// digits, 0-255, port not 0.
func oracleTuple(s string) (netip.AddrPort, bool) {
	f := strings.Split(s, ",")
	if len(f) != 6 {
		return netip.AddrPort{}, false
	}
	var v [6]byte
	for i, x := range f {
		n, ok := oracleNumber(x, 3)
		if !ok || n > 255 {
			return netip.AddrPort{}, false
		}
		v[i] = byte(n)
	}
	port := uint16(v[4])<<8 | uint16(v[5])
	if port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{v[0], v[1], v[2], v[3]}), port), true
}

func oraclePORT(arg string) (netip.AddrPort, bool) { return oracleTuple(arg) }

// oracle227 reads the tuple from the first digit of the reply text: the
// run of digits and commas there must be exactly the tuple.
func oracle227(text string) (netip.AddrPort, bool) {
	i := strings.IndexAny(text, "0123456789")
	if i < 0 {
		return netip.AddrPort{}, false
	}
	j := i
	for j < len(text) && (isASCIIDigit(text[j]) || text[j] == ',') {
		j++
	}
	return oracleTuple(text[i:j])
}

// oracle229 reads "(<d><d><d>port<d>" after the first '(' of the reply
// text: d is printable ASCII but not a digit, port 1-5 digits, 1-65535.
func oracle229(text string) (uint16, bool) {
	i := strings.IndexByte(text, '(')
	if i < 0 || i+4 > len(text) {
		return 0, false
	}
	d := text[i+1]
	if d < 33 || d > 126 || isASCIIDigit(d) || text[i+2] != d || text[i+3] != d {
		return 0, false
	}
	rest := text[i+4:]
	j := strings.IndexByte(rest, d)
	if j < 0 {
		return 0, false
	}
	p, ok := oracleNumber(rest[:j], 5)
	if !ok || p < 1 || p > 65535 {
		return 0, false
	}
	return uint16(p), true
}

// oracleEPRT reads "<d>af<d>addr<d>port<d>": d printable ASCII but not a
// character of an address or port (digit, hex letter, '.', ':'), exactly
// four of them; af 1 with an IPv4 address or 2 with an IPv6 one (not
// IPv4-mapped, no zone), as netip parses them; port 1-5 digits, 1-65535.
func oracleEPRT(arg string) (netip.AddrPort, bool) {
	if arg == "" {
		return netip.AddrPort{}, false
	}
	d := arg[0]
	if d < 33 || d > 126 || strings.IndexByte("0123456789abcdefABCDEF.:", d) >= 0 {
		return netip.AddrPort{}, false
	}
	f := strings.Split(arg, string(d))
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(f[2])
	switch {
	case err != nil || a.Zone() != "":
		return netip.AddrPort{}, false
	case f[1] == "1" && a.Is4():
	case f[1] == "2" && a.Is6() && !a.Is4In6():
	default:
		return netip.AddrPort{}, false
	}
	p, ok := oracleNumber(f[3], 5)
	if !ok || p < 1 || p > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(p)), true
}

// oracleLines splits a stream into lines the way RFC 959 and the
// documented bare-LF rule say: CRLF, or bare LF if the first line ends so.
func oracleLines(b []byte) [][]byte {
	sep := []byte("\r\n")
	if i := bytes.IndexByte(b, '\n'); i == 0 || i > 0 && b[i-1] != '\r' {
		sep = []byte("\n")
	}
	lines := bytes.Split(b, sep)
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	return lines
}
