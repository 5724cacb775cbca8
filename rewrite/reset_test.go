package rewrite

import (
	"net/netip"
	"testing"
)

func TestReset(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst string
		withAck  bool
	}{
		{"ipv4 with ack", "198.51.100.10", "203.0.113.1", true},
		{"ipv4 without ack", "198.51.100.10", "203.0.113.1", false},
		{"ipv6 with ack", "2001:db8:1::10", "2001:db8:2::20", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := netip.MustParseAddr(tc.src), netip.MustParseAddr(tc.dst)
			in := pktSpec{v6: src.Is6(), src: tc.src, dst: tc.dst, sport: 40000, dport: 21, seq: 1000, ack: 2000,
				flags: FlagACK | FlagPSH, window: 501, tcpOpts: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2},
				payload: []byte("PORT 10,0,0,1,4,1\r\n")}.build(t)
			var p Packet
			if err := Decode(in, &p); err != nil {
				t.Fatal(err)
			}
			out := Reset(nil, &p, 5555, 7777, tc.withAck)
			var q Packet
			if err := Decode(out, &q); err != nil {
				t.Fatalf("decode reset: %v", err)
			}
			wantFlags := uint8(FlagRST)
			if tc.withAck {
				wantFlags |= FlagACK
			}
			if q.Src != src || q.Dst != dst || q.SrcPort != 40000 || q.DstPort != 21 {
				t.Errorf("endpoints %v:%d -> %v:%d", q.Src, q.SrcPort, q.Dst, q.DstPort)
			}
			if q.Seq != 5555 || q.Flags != wantFlags || len(q.Payload) != 0 || q.TCPHdrLen != 20 {
				t.Errorf("seq %d flags %#x payload %d hdr %d", q.Seq, q.Flags, len(q.Payload), q.TCPHdrLen)
			}
			if tc.withAck && q.Ack != 7777 {
				t.Errorf("ack %d, want 7777", q.Ack)
			}
			gopacketCheck(t, out)
		})
	}
	var zero Packet
	if Reset(nil, &zero, 1, 1, true) != nil {
		t.Error("Reset of an undecoded packet returned bytes")
	}
}
