package rewrite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// sackAdjuster is the adjuster of the direction the test packets acknowledge:
// original [5000, 5010) became 15 bytes (+5), original [6000, 6020) became 4
// bytes (-16).
func sackAdjuster(tb testing.TB) *Adjuster {
	a := new(Adjuster)
	if err := a.Add(5000, 5010, repl(15)); err != nil {
		tb.Fatal(err)
	}
	if err := a.Add(6000, 6020, repl(4)); err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestRebuild(t *testing.T) {
	shapes := []struct {
		name string
		spec pktSpec
	}{
		{"ipv4", pktSpec{}},
		{"ipv4 options", pktSpec{ipOpts: []byte{148, 4, 0, 0}}},
		{"ipv6", pktSpec{v6: true}},
		{"ipv6 extension headers", pktSpec{v6: true, ext: []uint8{0, 43, 61}}},
	}
	payloads := []struct {
		name string
		orig string
		new  string
	}{
		{"same length", "PORT 10,0,0,1,4,1\r\n", "PORT 10,0,0,9,4,1\r\n"},
		{"growing", "PORT 10,0,0,1,4,1\r\n", "PORT 203,0,113,200,250,13\r\n"},
		{"growing odd to even", "PORT 1,2,3,4,5,6\r\n!", "PORT 203,0,113,200,250,13\r\n"},
		{"shrinking", "PORT 203,0,113,200,250,13\r\n", "PORT 1,2,3,4,5,6\r\n"},
		{"shrinking to empty", "x", ""},
		{"growing from empty", "", "227 Entering Passive Mode (1,2,3,4,5,6)\r\n"},
		{"kept", "LIST\r\n", ""}, // payload = p.Payload
	}
	sackSets := []struct {
		name   string
		opts   []byte
		blocks [][2]uint32 // SACK blocks in the packet (output space of the acked direction)
		want   [][2]uint32 // after UnmapSACK
	}{
		{"no options", nil, nil, nil},
		{"timestamps only", []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, nil, nil},
		{"sack", nil,
			[][2]uint32{{5000, 5015}, {5003, 5012}, {6006, 6009}, {6005, 6100}},
			[][2]uint32{{5000, 5010}, {7000, 7000}, {7000, 7000}, {6000, 6111}}},
		{"sack around edits", nil,
			[][2]uint32{{5020, 5030}, {4000, 5000}, {6009, 6100}},
			[][2]uint32{{5015, 5025}, {4000, 5000}, {6020, 6111}}},
	}
	for _, sh := range shapes {
		for _, pl := range payloads {
			for _, ss := range sackSets {
				for _, inPlace := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/inplace=%t", sh.name, pl.name, ss.name, inPlace)
					t.Run(name, func(t *testing.T) {
						spec := sh.spec
						spec.sport, spec.dport = 21, 40000
						spec.seq, spec.ack = 0xfffffff0, 7005
						spec.flags = FlagACK | FlagPSH
						spec.window = 1000
						spec.payload = []byte(pl.orig)
						spec.tcpOpts = ss.opts
						if ss.blocks != nil {
							spec.tcpOpts = sackOpt(ss.blocks...)
						}
						b := spec.build(t)
						gopacketCheck(t, b)
						p := mustDecode(t, b)
						ipHdr, tcpHdr := p.IPHdrLen, p.TCPHdrLen
						newPayload := []byte(pl.new)
						if pl.name == "kept" {
							newPayload = p.Payload
						}
						seq, ack := Seq(0x00000010), Seq(7000)
						var sack *Adjuster
						if ss.blocks != nil {
							sack = sackAdjuster(t)
						}
						var dst []byte
						if inPlace {
							// Rebuild into the packet's own buffer, with room to grow.
							buf := make([]byte, len(b), len(b)+64)
							copy(buf, b)
							p = mustDecode(t, buf)
							if pl.name == "kept" {
								newPayload = p.Payload
							}
							dst = buf
						} else {
							dst = make([]byte, 0, 256)
						}
						out, err := RebuildChecked(dst, p, seq, ack, sack, newPayload)
						if err != nil {
							t.Fatalf("RebuildChecked: %v", err)
						}
						if len(out) > 0 && &out[0] != &dst[:1][0] {
							t.Errorf("Rebuild did not use dst although it had room")
						}
						tcp := gopacketCheck(t, out)
						wantPayload := pl.new
						if pl.name == "kept" {
							wantPayload = pl.orig
						}
						if string(tcp.Payload) != wantPayload {
							t.Errorf("payload %q, want %q", tcp.Payload, wantPayload)
						}
						if tcp.Seq != uint32(seq) || tcp.Ack != uint32(ack) {
							t.Errorf("seq/ack %d/%d, want %d/%d", tcp.Seq, tcp.Ack, seq, ack)
						}
						if tcp.SrcPort != 21 || tcp.DstPort != 40000 || tcp.Window != 1000 || !tcp.ACK || !tcp.PSH {
							t.Errorf("other TCP fields changed: %+v", tcp)
						}
						var blocks [][2]uint32
						for _, o := range tcp.Options {
							if o.OptionType == layers.TCPOptionKindSACK {
								for d := o.OptionData; len(d) >= 8; d = d[8:] {
									blocks = append(blocks, [2]uint32{binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])})
								}
							}
						}
						if fmt.Sprint(blocks) != fmt.Sprint(ss.want) {
							t.Errorf("SACK blocks %v, want %v", blocks, ss.want)
						}
						// Everything but seq, ack, checksums, lengths, SACK
						// edges and payload is unchanged.
						q := mustDecode(t, out)
						if q.IPHdrLen != ipHdr || q.TCPHdrLen != tcpHdr {
							t.Fatalf("header lengths %d/%d, were %d/%d", q.IPHdrLen, q.TCPHdrLen, ipHdr, tcpHdr)
						}
						masked := func(pkt []byte) []byte {
							h := append([]byte(nil), pkt[:ipHdr+tcpHdr]...)
							if spec.v6 {
								clear(h[4:6])
							} else {
								clear(h[2:4])
								clear(h[10:12])
							}
							clear(h[ipHdr+4 : ipHdr+12])
							clear(h[ipHdr+16 : ipHdr+18])
							if ss.blocks != nil {
								clear(h[ipHdr+24:])
							}
							return h
						}
						if !bytes.Equal(masked(out), masked(b)) {
							t.Errorf("headers changed beyond the rewritten fields:\n% x\n% x", masked(out), masked(b))
						}
					})
				}
			}
		}
	}
}

// TestRebuildKeepsChecksumError checks that a packet with a wrong TCP (or
// IPv4 header) checksum leaves Rebuild wrong by exactly the same amount.
func TestRebuildKeepsChecksumError(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, errAmount := range []uint16{1, 0x100, 0x8000, 0xfffe} {
			for _, newPayload := range []string{"PORT 1,2,3,4,5,6\r\n", "PORT 203,0,113,200,250,13\r\n", "x", "PORT 1,2,3,4,5,7\r\n"} {
				name := fmt.Sprintf("v6=%t/err=%#x/%q", v6, errAmount, newPayload)
				t.Run(name, func(t *testing.T) {
					spec := pktSpec{v6: v6, seq: 1000, ack: 0xfffffffe, flags: FlagACK,
						payload: []byte("PORT 1,2,3,4,5,6\r\n"), tcpOpts: sackOpt([2]uint32{5000, 5015})}
					b := spec.build(t)
					p := mustDecode(t, b)
					off := p.IPHdrLen + 16
					// Corrupt the TCP checksum by errAmount in ones-complement.
					cs := binary.BigEndian.Uint16(b[off:])
					bad := ^fold(uint64(^cs) + uint64(errAmount))
					binary.BigEndian.PutUint16(b[off:], bad)
					if !v6 {
						hc := binary.BigEndian.Uint16(b[10:])
						binary.BigEndian.PutUint16(b[10:], ^fold(uint64(^hc)+uint64(errAmount)))
					}
					before := onesResidual(oracleTCPSum(b, p.IPHdrLen))
					if before == 0 {
						t.Fatalf("corruption did not make the checksum wrong")
					}
					var ipBefore uint16
					if !v6 {
						ipBefore = onesResidual(oracleIPv4Sum(b))
					}
					out := Rebuild(nil, p, 77, 99, sackAdjuster(t), []byte(newPayload))
					if out == nil {
						t.Fatal("Rebuild failed")
					}
					q := mustDecode(t, out)
					if after := onesResidual(oracleTCPSum(out, q.IPHdrLen)); after != before {
						t.Errorf("TCP checksum error %#04x before, %#04x after", before, after)
					}
					if !v6 {
						if after := onesResidual(oracleIPv4Sum(out)); after != ipBefore {
							t.Errorf("IPv4 header checksum error %#04x before, %#04x after", ipBefore, after)
						}
					}
				})
			}
		}
	}
}

func TestRebuildNoChangeIsIdentical(t *testing.T) {
	for _, spec := range []pktSpec{
		{seq: 5, ack: 6, payload: []byte("USER ftp\r\n"), tcpOpts: sackOpt([2]uint32{1, 2})},
		{v6: true, ext: []uint8{60}, seq: 5, ack: 6, payload: []byte("odd")},
	} {
		b := spec.build(t)
		p := mustDecode(t, b)
		// Same values, identity SACK adjuster, payload copied elsewhere.
		out := Rebuild(nil, p, p.Seq, p.Ack, new(Adjuster), append([]byte(nil), p.Payload...))
		if !bytes.Equal(out, b) {
			t.Errorf("rebuild without changes differs:\n% x\n% x", out, b)
		}
		// Even a checksum field of 0xffff (impossible from a real
		// computation) stays as it is.
		binary.BigEndian.PutUint16(b[p.IPHdrLen+16:], 0xffff)
		out = Rebuild(nil, p, p.Seq, p.Ack, nil, p.Payload)
		if !bytes.Equal(out, b) {
			t.Errorf("rebuild without changes altered a 0xffff checksum")
		}
	}
}

func TestRebuildInPlaceSameLength(t *testing.T) {
	b := pktSpec{seq: 1, ack: 2, flags: FlagACK, payload: []byte("PORT 10,0,0,1,4,1\r\n"), tcpOpts: sackOpt([2]uint32{5000, 5015})}.build(t)
	p := mustDecode(t, b)
	out := Rebuild(p.B, p, 3, 4, sackAdjuster(t), []byte("PORT 10,0,0,2,4,1\r\n"))
	if &out[0] != &b[0] || len(out) != len(b) {
		t.Fatalf("in-place rebuild did not reuse the buffer")
	}
	gopacketCheck(t, out)
}

func TestRebuildTrimmedPayloadAliasingPacket(t *testing.T) {
	// payload is a suffix of p.Payload, rebuilt in place: overlapping copy.
	b := pktSpec{v6: true, seq: 1, ack: 2, flags: FlagACK, payload: []byte("0123456789PORT 1,2,3,4,5,6\r\n")}.build(t)
	p := mustDecode(t, b)
	out := Rebuild(p.B, p, p.Seq.Add(10), p.Ack, nil, p.Payload[10:])
	tcp := gopacketCheck(t, out)
	if string(tcp.Payload) != "PORT 1,2,3,4,5,6\r\n" {
		t.Errorf("payload %q", tcp.Payload)
	}
	// Into a separate buffer, payload aliasing the packet.
	b = pktSpec{seq: 1, ack: 2, flags: FlagACK, payload: []byte("0123456789PORT 1,2,3,4,5,6\r\n")}.build(t)
	p = mustDecode(t, b)
	out = Rebuild(make([]byte, 0, 10), p, p.Seq.Add(3), p.Ack, nil, p.Payload[3:])
	tcp = gopacketCheck(t, out)
	if string(tcp.Payload) != "3456789PORT 1,2,3,4,5,6\r\n" {
		t.Errorf("payload %q", tcp.Payload)
	}
}

func TestRebuildErrors(t *testing.T) {
	b := pktSpec{ipOpts: make([]byte, 8), tcpOpts: make([]byte, 4), payload: []byte("x")}.build(t)
	p := mustDecode(t, b)
	big := make([]byte, p.MaxPayload())
	out, err := RebuildChecked(nil, p, 1, 2, nil, big)
	if err != nil || len(out) != 65535 {
		t.Fatalf("payload of MaxPayload: len %d, %v", len(out), err)
	}
	gopacketCheck(t, out)
	_, err = RebuildChecked(nil, p, 1, 2, nil, append(big, 0))
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "IPv4 payload of 65484 bytes exceeds the 65483 bytes") {
		t.Errorf("too long: %v", err)
	}
	if Rebuild(nil, p, 1, 2, nil, append(big, 0)) != nil {
		t.Errorf("Rebuild of a too long payload did not return nil")
	}

	b6 := pktSpec{v6: true, ext: []uint8{0}, payload: []byte("x")}.build(t)
	p6 := mustDecode(t, b6)
	big6 := make([]byte, p6.MaxPayload())
	out, err = RebuildChecked(nil, p6, 1, 2, nil, big6)
	if err != nil || len(out) != 65535+40 {
		t.Fatalf("IPv6 payload of MaxPayload: len %d, %v", len(out), err)
	}
	gopacketCheck(t, out)
	if _, err := RebuildChecked(nil, p6, 1, 2, nil, append(big6, 0)); !errors.Is(err, ErrTooLong) {
		t.Errorf("IPv6 too long: %v", err)
	}

	var zero Packet
	if _, err := RebuildChecked(nil, &zero, 1, 2, nil, nil); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "not decoded") {
		t.Errorf("zero packet: %v", err)
	}
	if Rebuild(nil, &zero, 1, 2, nil, nil) != nil {
		t.Errorf("Rebuild of a zero packet did not return nil")
	}
}

func TestRebuildMalformedSACKStopsRewriting(t *testing.T) {
	// A SACK option with a bad length: neither it nor later SACK options are
	// touched, like SACKBlocks; the checksum stays right.
	opts := append(sackOpt([2]uint32{5000, 5015}), 5, 11, 0, 0, 0x13, 0x88, 0, 0, 0x13, 0x97, 0)
	opts = append(opts, sackOpt([2]uint32{5000, 5015})...)
	b := pktSpec{seq: 1, ack: 2, flags: FlagACK, tcpOpts: opts}.build(t)
	p := mustDecode(t, b)
	out := Rebuild(nil, p, 1, 2, sackAdjuster(t), p.Payload)
	q := mustDecode(t, out)
	if got := q.SACKBlocks(nil); len(got) != 1 || got[0] != [2]Seq{5000, 5010} {
		t.Errorf("SACK blocks after rebuild: %v", got)
	}
	if !bytes.Equal(out[q.IPHdrLen+32:q.IPHdrLen+q.TCPHdrLen], b[p.IPHdrLen+32:p.IPHdrLen+p.TCPHdrLen]) {
		t.Errorf("options after the malformed SACK option changed")
	}
	gopacketCheck(t, out)
}
