package conntrack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// FuzzSession feeds a whole control session through the Tracker: client
// and server byte streams cut into segments by ops, with reordering,
// retransmissions (some with different bytes) and hold timeouts. It must
// never panic, every packet it emits must carry valid checksums (the lab
// checks), and every pinhole must be one the streams legitimately
// announced: a PORT/EPRT at a client line start naming the client, or a
// 227/229 at a server line start naming the server.
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
	f.Fuzz(func(t *testing.T, client, server, ops []byte, nat bool) {
		if len(client) > 4096 || len(server) > 4096 || len(ops) > 512 {
			return
		}
		cfg := Config{}
		srv := srvAddr
		if nat {
			srv = mustAP("10.0.0.5:21")
			cfg.NAT = fakeNAT{Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: srv, Dst: cliAddr}}}
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
		if nat {
			return
		}
		checkLegit(t, l, client, server)
	})
}

// checkLegit verifies every opened pinhole against an independent reading
// of the streams.
func checkLegit(t *testing.T, l *lab, client, server []byte) {
	legit := map[netip.AddrPort]bool{}
	for _, line := range oracleLines(client) {
		verb, arg := splitCommand(line)
		switch {
		case bytes.EqualFold(verb, []byte("PORT")):
			if ap, err := ParsePORT(arg); err == nil {
				legit[ap] = true
			}
		case bytes.EqualFold(verb, []byte("EPRT")):
			if ap, _, err := ParseEPRT(arg); err == nil {
				legit[ap] = true
			}
		}
	}
	for _, line := range oracleLines(server) {
		if len(line) < 4 {
			continue
		}
		switch string(line[:3]) {
		case "227":
			if ap, _, _, err := Parse227(line[4:]); err == nil {
				legit[ap] = true
			}
		case "229":
			if p, _, _, err := Parse229(line[4:]); err == nil {
				legit[netip.AddrPortFrom(srvAddr.Addr(), p)] = true
			}
		}
	}
	for _, e := range l.effects(EffOpenPinhole) {
		dst := e.Pinhole.Dst
		if !legit[dst] {
			t.Fatalf("pinhole %v was never announced at a line start; events %+v", e.Pinhole, l.Events)
		}
		own := cliAddr.Addr()
		if e.Pinhole.Src == cliAddr.Addr() {
			own = srvAddr.Addr()
		}
		if dst.Addr() != own || dst.Port() < 1024 {
			t.Fatalf("pinhole %v breaks the policy", e.Pinhole)
		}
	}
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
