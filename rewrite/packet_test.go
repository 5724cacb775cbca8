package rewrite

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

var ftpPayload = []byte("PORT 192,0,2,1,19,137\r\n")

func TestDecode(t *testing.T) {
	base4 := pktSpec{sport: 40000, dport: 21, seq: 0x01020304, ack: 0xfffffff0, flags: FlagACK | FlagPSH, window: 502, payload: ftpPayload}
	base6 := base4
	base6.v6 = true

	type want struct {
		version  uint8
		src, dst string
		ipHdr    int
		tcpHdr   int
		bLen     int // len(p.B)
	}
	with := func(s pktSpec, f func(*pktSpec)) pktSpec { f(&s); return s }
	tests := []struct {
		name string
		spec pktSpec
		want want
	}{
		{"ipv4", base4, want{4, "192.0.2.1", "198.51.100.7", 20, 20, 20 + 20 + len(ftpPayload)}},
		{"ipv4 options", with(base4, func(s *pktSpec) { s.ipOpts = []byte{148, 4, 0, 0, 1, 1, 1, 0} }),
			want{4, "192.0.2.1", "198.51.100.7", 28, 20, 28 + 20 + len(ftpPayload)}},
		{"ipv4 max options", with(base4, func(s *pktSpec) { s.ipOpts = make([]byte, 40) }),
			want{4, "192.0.2.1", "198.51.100.7", 60, 20, 60 + 20 + len(ftpPayload)}},
		{"ipv4 tcp options", with(base4, func(s *pktSpec) { s.tcpOpts = sackOpt([2]uint32{1, 2}) }),
			want{4, "192.0.2.1", "198.51.100.7", 20, 32, 20 + 32 + len(ftpPayload)}},
		{"ipv4 trailer excluded", with(base4, func(s *pktSpec) { s.trailer = []byte{0xee, 0xee, 0xee} }),
			want{4, "192.0.2.1", "198.51.100.7", 20, 20, 20 + 20 + len(ftpPayload)}},
		{"ipv4 DF is not a fragment", with(base4, func(s *pktSpec) { s.frag = 0x4000 }),
			want{4, "192.0.2.1", "198.51.100.7", 20, 20, 20 + 20 + len(ftpPayload)}},
		{"ipv4 empty payload", with(base4, func(s *pktSpec) { s.payload = nil }),
			want{4, "192.0.2.1", "198.51.100.7", 20, 20, 40}},
		{"ipv6", base6, want{6, "2001:db8::1", "2001:db8:ffff::7", 40, 20, 40 + 20 + len(ftpPayload)}},
		{"ipv6 hop-by-hop", with(base6, func(s *pktSpec) { s.ext = []uint8{0} }),
			want{6, "2001:db8::1", "2001:db8:ffff::7", 48, 20, 48 + 20 + len(ftpPayload)}},
		{"ipv6 all extension headers", with(base6, func(s *pktSpec) { s.ext = []uint8{0, 60, 43, 61} }),
			want{6, "2001:db8::1", "2001:db8:ffff::7", 80, 20, 80 + 20 + len(ftpPayload)}},
		{"ipv6 trailer and options", with(base6, func(s *pktSpec) {
			s.ext = []uint8{61}
			s.tcpOpts = sackOpt([2]uint32{1, 2}, [2]uint32{3, 4})
			s.trailer = []byte{1, 2}
		}), want{6, "2001:db8::1", "2001:db8:ffff::7", 56, 40, 56 + 40 + len(ftpPayload)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.spec.build(t)
			var p Packet
			if err := Decode(b, &p); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			w := tt.want
			if p.Version != w.version || p.IPHdrLen != w.ipHdr || p.TCPHdrLen != w.tcpHdr || len(p.B) != w.bLen {
				t.Errorf("version %d ipHdr %d tcpHdr %d len(B) %d, want %d %d %d %d",
					p.Version, p.IPHdrLen, p.TCPHdrLen, len(p.B), w.version, w.ipHdr, w.tcpHdr, w.bLen)
			}
			if p.Src != netip.MustParseAddr(w.src) || p.Dst != netip.MustParseAddr(w.dst) {
				t.Errorf("addresses %v -> %v, want %s -> %s", p.Src, p.Dst, w.src, w.dst)
			}
			s := tt.spec
			if p.SrcPort != s.sport || p.DstPort != s.dport || p.Seq != Seq(s.seq) || p.Ack != Seq(s.ack) ||
				p.Flags != s.flags || p.Window != s.window {
				t.Errorf("tcp fields %+v do not match spec %+v", p, s)
			}
			if string(p.Payload) != string(s.payload) {
				t.Errorf("payload %q, want %q", p.Payload, s.payload)
			}
			if &p.B[0] != &b[0] {
				t.Errorf("p.B does not alias the buffer")
			}
			if got := len(p.Options()); got != p.TCPHdrLen-20 {
				t.Errorf("Options() has %d bytes, want %d", got, p.TCPHdrLen-20)
			}
			if got := p.TCPHeader(); len(got) != p.TCPHdrLen || got[12]>>4 != byte(p.TCPHdrLen/4) {
				t.Errorf("TCPHeader() wrong: % x", got)
			}
			// Every strictly shorter buffer is an error, never a panic.
			ipLen := len(b) - len(s.trailer)
			for n := 0; n < ipLen; n++ {
				var q Packet
				if err := Decode(b[:n], &q); err == nil {
					t.Fatalf("Decode of %d of %d bytes succeeded", n, ipLen)
				} else if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Decode of %d bytes: %v does not wrap ErrMalformed", n, err)
				}
				if !reflect.DeepEqual(q, Packet{}) {
					t.Fatalf("Decode of %d bytes left a non-zero packet on error", n)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	base4 := pktSpec{sport: 40000, dport: 21, seq: 1, ack: 2, flags: FlagACK, payload: ftpPayload}
	base6 := base4
	base6.v6 = true
	with := func(s pktSpec, f func(*pktSpec)) pktSpec { f(&s); return s }
	// mut builds the spec, then corrupts the bytes.
	type mutation func(b []byte) []byte
	set := func(off int, v ...byte) mutation {
		return func(b []byte) []byte { copy(b[off:], v); return b }
	}
	tests := []struct {
		name string
		spec pktSpec
		mut  mutation
		kind error
		msg  string // substring of the error message
	}{
		{"empty", base4, func([]byte) []byte { return nil }, ErrMalformed, "empty buffer"},
		{"version 5", base4, set(0, 0x55), ErrMalformed, "version 5 at offset 0"},
		{"version 0", base4, set(0, 0x05), ErrMalformed, "version 0 at offset 0"},
		{"ipv4 IHL 4", base4, set(0, 0x44), ErrMalformed, "header length 16 (IHL 4) at offset 0"},
		{"ipv4 IHL 0", base4, set(0, 0x40), ErrMalformed, "IHL 0"},
		{"ipv4 total length exceeds buffer", base4, set(2, 0, 200), ErrMalformed,
			"rewrite: ipv4: total length 200 exceeds buffer of 63 bytes"},
		{"ipv4 total length below IHL", base4, set(2, 0, 19), ErrMalformed, "header length 20 (IHL at offset 0) exceeds total length 19"},
		{"ipv4 options beyond total length", with(base4, func(s *pktSpec) { s.payload = nil }), set(0, 0x4f), ErrMalformed,
			"header length 60 (IHL at offset 0) exceeds total length 40"},
		{"ipv4 MF", with(base4, func(s *pktSpec) { s.frag = 0x2000 }), nil, ErrFragment, "more-fragments true, fragment offset 0) at offset 6"},
		{"ipv4 offset", with(base4, func(s *pktSpec) { s.frag = 0x0003 }), nil, ErrFragment, "more-fragments false, fragment offset 24"},
		{"ipv4 DF+offset", with(base4, func(s *pktSpec) { s.frag = 0x4001 }), nil, ErrFragment, "fragment offset 8"},
		{"ipv4 UDP", with(base4, func(s *pktSpec) { s.proto = 17 }), nil, ErrNotTCP, "protocol 17 at offset 9 is not TCP"},
		{"ipv4 ICMP", with(base4, func(s *pktSpec) { s.proto = 1 }), nil, ErrNotTCP, "protocol 1 at offset 9"},
		{"ipv4 total length cuts TCP header", with(base4, func(s *pktSpec) { s.payload = nil }), set(2, 0, 30), ErrMalformed,
			"rewrite: tcp: header at offset 20 truncated: 10 bytes left, need 20"},
		{"tcp data offset 4", base4, set(32, 0x40), ErrMalformed, "data offset 4 at offset 32 is below the minimum of 5"},
		{"tcp data offset 0", base4, set(32, 0x00), ErrMalformed, "data offset 0 at offset 32"},
		{"tcp data offset beyond packet", with(base4, func(s *pktSpec) { s.payload = []byte("ab") }), set(32, 0xf0), ErrMalformed,
			"header length 60 (data offset at offset 32) exceeds the 22 bytes left"},
		{"ipv6 short", base6, func(b []byte) []byte { return b[:39] }, ErrMalformed, "buffer of 39 bytes is shorter than the 40-byte header"},
		{"ipv6 jumbogram", base6, set(4, 0, 0), ErrMalformed, "payload length 0 at offset 4 (jumbogram)"},
		{"ipv6 payload length exceeds buffer", base6, set(4, 1, 0), ErrMalformed, "payload length 256 at offset 4 exceeds the 43 bytes after the header"},
		{"ipv6 UDP", with(base6, func(s *pktSpec) { s.proto = 17 }), nil, ErrNotTCP, "next header 17 at offset 6 is not TCP"},
		{"ipv6 ESP after options", with(base6, func(s *pktSpec) { s.ext = []uint8{60}; s.proto = 50 }), nil, ErrNotTCP, "next header 50 at offset 40"},
		{"ipv6 no next header", with(base6, func(s *pktSpec) { s.proto = 59 }), nil, ErrNotTCP, "next header 59"},
		{"ipv6 fragment", with(base6, func(s *pktSpec) { s.ext = []uint8{44} }), nil, ErrFragment, "fragment header at offset 40"},
		{"ipv6 fragment after hop-by-hop", with(base6, func(s *pktSpec) { s.ext = []uint8{0, 44} }), nil, ErrFragment, "fragment header at offset 48"},
		{"ipv6 hop-by-hop not first", with(base6, func(s *pktSpec) { s.ext = []uint8{60, 0} }), nil, ErrMalformed,
			"hop-by-hop options header at offset 48 does not follow the fixed header"},
		{"ipv6 extension header too long", with(base6, func(s *pktSpec) { s.ext = []uint8{60} }), set(41, 20), ErrMalformed,
			"extension header 60 at offset 40 has length 168, exceeding the 51 bytes left"},
		{"ipv6 extension header truncated", with(base6, func(s *pktSpec) { s.ext = []uint8{60}; s.payload = nil }), set(4, 0, 4), ErrMalformed,
			"extension header 60 at offset 40 truncated: 4 bytes left, need 8"},
		{"ipv6 tcp truncated", with(base6, func(s *pktSpec) { s.payload = nil }), set(4, 0, 19), ErrMalformed,
			"rewrite: tcp: header at offset 40 truncated: 19 bytes left, need 20"},
		{"ipv6 data offset 3", base6, set(52, 0x30), ErrMalformed, "data offset 3 at offset 52"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.spec.build(t)
			if tt.mut != nil {
				b = tt.mut(b)
			}
			p := Packet{Version: 9, IPHdrLen: 3} // stale content must be cleared
			err := Decode(b, &p)
			if err == nil {
				t.Fatalf("Decode succeeded, want %v", tt.kind)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q does not wrap %v", err, tt.kind)
			}
			for _, other := range []error{ErrFragment, ErrNotTCP, ErrMalformed} {
				if other != tt.kind && errors.Is(err, other) {
					t.Errorf("error %q also wraps %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "rewrite: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if !reflect.DeepEqual(p, Packet{}) {
				t.Errorf("packet not zeroed on error: %+v", p)
			}
		})
	}
}

func TestSACKBlocks(t *testing.T) {
	ts := []byte{8, 10, 1, 2, 3, 4, 5, 6, 7, 8} // timestamps
	be := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	cat := func(parts ...[]byte) []byte {
		var o []byte
		for _, p := range parts {
			o = append(o, p...)
		}
		return o
	}
	tests := []struct {
		name string
		opts []byte
		want [][2]Seq
	}{
		{"none", nil, nil},
		{"one block", sackOpt([2]uint32{100, 200}), [][2]Seq{{100, 200}}},
		{"three blocks", sackOpt([2]uint32{1, 2}, [2]uint32{3, 4}, [2]uint32{0xfffffff0, 5}),
			[][2]Seq{{1, 2}, {3, 4}, {0xfffffff0, 5}}},
		{"after timestamps", cat([]byte{1, 1}, ts, sackOpt([2]uint32{7, 9})), [][2]Seq{{7, 9}}},
		{"unaligned", cat([]byte{5, 10}, be(11), be(22)), [][2]Seq{{11, 22}}},
		{"two SACK options", cat(sackOpt([2]uint32{1, 2}), sackOpt([2]uint32{3, 4})), [][2]Seq{{1, 2}, {3, 4}}},
		{"end of list first", cat([]byte{0, 1, 1}, sackOpt([2]uint32{1, 2})), nil},
		{"bad SACK length stops", cat([]byte{5, 11}, be(1), be(2), []byte{0}, sackOpt([2]uint32{3, 4})), nil},
		{"SACK length 2 stops", cat(sackOpt([2]uint32{1, 2}), []byte{5, 2}, sackOpt([2]uint32{3, 4})), [][2]Seq{{1, 2}}},
		{"option length 1 stops", cat(sackOpt([2]uint32{1, 2}), []byte{8, 1}, sackOpt([2]uint32{3, 4})), [][2]Seq{{1, 2}}},
		{"option beyond end stops", cat(sackOpt([2]uint32{1, 2}), []byte{1, 5, 18}, be(3), be(4)), [][2]Seq{{1, 2}}},
		{"lone kind at end", cat(sackOpt([2]uint32{1, 2}), []byte{1, 1, 1, 8}), [][2]Seq{{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := pktSpec{tcpOpts: tt.opts, payload: []byte("x")}.build(t)
			p := mustDecode(t, b)
			got := p.SACKBlocks(nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SACKBlocks = %v, want %v", got, tt.want)
			}
			pre := [][2]Seq{{9, 9}}
			if got := p.SACKBlocks(pre); len(got) != 1+len(tt.want) || got[0] != pre[0] {
				t.Errorf("SACKBlocks does not append: %v", got)
			}
		})
	}
}

func TestPacketAccessorsOnZeroPacket(t *testing.T) {
	var p Packet
	if p.Options() != nil || p.TCPHeader() != nil || p.SACKBlocks(nil) != nil {
		t.Errorf("accessors of a zero Packet return data")
	}
}

func TestMaxPayload(t *testing.T) {
	p4 := mustDecode(t, pktSpec{ipOpts: make([]byte, 4), tcpOpts: make([]byte, 12)}.build(t))
	if got, want := p4.MaxPayload(), 65535-24-32; got != want {
		t.Errorf("IPv4 MaxPayload = %d, want %d", got, want)
	}
	p6 := mustDecode(t, pktSpec{v6: true, ext: []uint8{0}, tcpOpts: make([]byte, 12)}.build(t))
	if got, want := p6.MaxPayload(), 65535-8-32; got != want {
		t.Errorf("IPv6 MaxPayload = %d, want %d", got, want)
	}
}
