package pktfuzz

import (
	"net/netip"
	"testing"
	"time"
)

var (
	cli4 = netip.MustParseAddrPort("198.51.100.10:40000")
	srv4 = netip.MustParseAddrPort("10.0.0.2:21")
	cli6 = netip.MustParseAddrPort("[2001:db8:1::10]:40002")
	srv6 = netip.MustParseAddrPort("[fd00::2]:21")
)

// TestBuilderReader: what the Builder writes, the Reader decodes into the
// packets meant, with sequence and acknowledgment numbers following the
// connection, right checksums, and corruption where asked.
func TestBuilderReader(t *testing.T) {
	conns := []Conn{{Client: cli4, Server: srv4, ISN: [2]uint32{100, 0xffffffff}}, {Client: cli6, Server: srv6, ISN: [2]uint32{7, 9}}}
	var b Builder
	b.Handshake(0).Dialog(0, "S: 220 hi").Tick(8).Packet(1, FromClient, flagSYN, "").
		PacketAt(0, FromClient, flagACK|flagPSH, 5, "late").Corrupt(0, FromServer, flagACK, "x", 0, 0).
		SACK(0, FromClient, 2, 3).Used(3).EndFlow(1).Resend(1).Raw([]byte{0x45})
	r := NewReader(b.Bytes(), conns)
	type want struct {
		kind     Kind
		src, dst netip.AddrPort
		seq, ack uint32
		flags    uint8
		payload  string
		raw      bool
	}
	wants := []want{
		{kind: Packet, src: cli4, dst: srv4, seq: 100, flags: flagSYN},
		{kind: Packet, src: srv4, dst: cli4, seq: 0xffffffff, ack: 101, flags: flagSYN | flagACK},
		{kind: Packet, src: cli4, dst: srv4, seq: 101, ack: 0, flags: flagACK},
		{kind: Packet, src: srv4, dst: cli4, seq: 0, ack: 101, flags: flagACK | flagPSH, payload: "220 hi\r\n"},
		{kind: Packet, src: cli4, dst: srv4, seq: 101, ack: 8, flags: flagACK},
		{kind: Tick},
		{kind: Packet, src: cli6, dst: srv6, seq: 7, flags: flagSYN},
		{kind: Packet, src: cli4, dst: srv4, seq: 106, ack: 8, flags: flagACK | flagPSH, payload: "late"},
		{kind: Packet, raw: true},
		{kind: Packet, src: cli4, dst: srv4, seq: 110, ack: 8, flags: flagACK},
		{kind: Used},
		{kind: EndFlow},
		{kind: Packet, raw: true},
		{kind: Packet, raw: true},
	}
	for i, w := range wants {
		op, ok := r.Next()
		if !ok {
			t.Fatalf("op %d: program ended early", i)
		}
		if op.Kind != w.kind || op.Raw != w.raw {
			t.Fatalf("op %d: kind %v raw %v, want %v raw %v", i, op.Kind, op.Raw, w.kind, w.raw)
		}
		if op.Kind != Packet || w.raw {
			continue
		}
		v, ok := View(op.Packet)
		if !ok {
			t.Fatalf("op %d: built packet does not parse: % x", i, op.Packet)
		}
		if v.Src != w.src || v.Dst != w.dst || v.Seq != w.seq || v.Ack != w.ack || v.Flags != w.flags || string(v.Payload) != w.payload {
			t.Fatalf("op %d: %+v, want %+v", i, v, w)
		}
		if ipr, tcpr := Residuals(op.Packet, v); ipr != 0 || tcpr != 0 {
			t.Fatalf("op %d: checksum residuals %#x %#x", i, ipr, tcpr)
		}
		r.Delivered(op.Packet)
	}
	if op, ok := r.Next(); ok {
		t.Fatalf("program goes on: %+v", op)
	}
	if Durations[8] != time.Second {
		t.Fatalf("Durations[8] = %v", Durations[8])
	}
}

// TestResiduals: a damaged byte moves the TCP residual, a damaged IPv4
// header moves the IP residual; IPv6 has none.
func TestResiduals(t *testing.T) {
	for _, c := range []struct{ src, dst netip.AddrPort }{{cli4, srv4}, {cli6, srv6}} {
		p := Build(c.src, c.dst, 1, 2, flagACK, []byte("PASV\r\n"), [2]uint32{3, 4})
		v, ok := View(p)
		if !ok {
			t.Fatalf("%v: does not parse", c.src)
		}
		p[len(p)-3] ^= 0x20
		if _, tcpr := Residuals(p, v); tcpr == 0 {
			t.Errorf("%v: damaged payload, TCP residual 0", c.src)
		}
		if c.src.Addr().Is4() {
			p[8] ^= 1
			if ipr, _ := Residuals(p, v); ipr == 0 {
				t.Errorf("damaged IPv4 TTL, IP residual 0")
			}
		}
	}
}
