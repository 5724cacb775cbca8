package rewrite

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pktSpec describes a test packet; build assembles it by hand and fills the
// checksums with gopacket's checksum code (an oracle independent of this
// package's Checksum).
type pktSpec struct {
	v6       bool
	ipOpts   []byte  // IPv4 options, a multiple of 4 bytes
	ext      []uint8 // IPv6 extension headers in order: 0, 43, 60 (8 bytes), 61 (a 16-byte destination options header), 44
	proto    uint8   // transport protocol if not TCP (0 means TCP)
	frag     uint16  // IPv4 flags and fragment offset field
	src, dst string
	sport    uint16
	dport    uint16
	seq, ack uint32
	flags    uint8
	window   uint16
	tcpOpts  []byte // TCP options, padded with end-of-list bytes to a multiple of 4
	payload  []byte
	trailer  []byte // bytes after the IP packet in the buffer (link-layer padding)
}

func (s pktSpec) build(tb testing.TB) []byte {
	tb.Helper()
	opts := append([]byte(nil), s.tcpOpts...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	if len(opts) > 40 {
		tb.Fatalf("%d bytes of TCP options do not fit", len(opts))
	}
	tcp := make([]byte, 20+len(opts)+len(s.payload))
	binary.BigEndian.PutUint16(tcp[0:], s.sport)
	binary.BigEndian.PutUint16(tcp[2:], s.dport)
	binary.BigEndian.PutUint32(tcp[4:], s.seq)
	binary.BigEndian.PutUint32(tcp[8:], s.ack)
	tcp[12] = byte((20 + len(opts)) / 4 << 4)
	tcp[13] = s.flags
	binary.BigEndian.PutUint16(tcp[14:], s.window)
	copy(tcp[20:], opts)
	copy(tcp[20+len(opts):], s.payload)

	src, dst := s.src, s.dst
	var b []byte
	if !s.v6 {
		if src == "" {
			src, dst = "192.0.2.1", "198.51.100.7"
		}
		ihl := 20 + len(s.ipOpts)
		b = make([]byte, ihl, ihl+len(tcp))
		b[0] = 0x40 | byte(ihl/4)
		binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(tcp)))
		binary.BigEndian.PutUint16(b[4:], 0x1234)
		binary.BigEndian.PutUint16(b[6:], s.frag)
		b[8] = 64
		b[9] = 6
		if s.proto != 0 {
			b[9] = s.proto
		}
		a4 := netip.MustParseAddr(src).As4()
		copy(b[12:], a4[:])
		a4 = netip.MustParseAddr(dst).As4()
		copy(b[16:], a4[:])
		copy(b[20:], s.ipOpts)
		binary.BigEndian.PutUint16(b[10:], gopacket.FoldChecksum(gopacket.ComputeChecksum(b[:ihl], 0)))
	} else {
		if src == "" {
			src, dst = "2001:db8::1", "2001:db8:ffff::7"
		}
		b = make([]byte, 40, 40+64+len(tcp))
		b[0] = 0x60
		b[7] = 64
		a16 := netip.MustParseAddr(src).As16()
		copy(b[8:], a16[:])
		a16 = netip.MustParseAddr(dst).As16()
		copy(b[24:], a16[:])
		nhField := 6
		for _, e := range s.ext {
			var h []byte
			switch e {
			case 0, 60:
				h = []byte{0, 0, 1, 4, 0, 0, 0, 0} // PadN
			case 61:
				e = 60
				h = []byte{0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			case 43:
				h = []byte{0, 0, 0, 0, 0, 0, 0, 0} // type 0, segments left 0
			case 44:
				h = []byte{0, 0, 0, 0, 0, 0, 0, 1} // fragment, offset 0, M=0
			default:
				tb.Fatalf("unknown extension header %d", e)
			}
			b[nhField] = e
			nhField = len(b)
			b = append(b, h...)
		}
		b[nhField] = 6
		if s.proto != 0 {
			b[nhField] = s.proto
		}
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40+len(tcp)))
	}
	tcpOff := len(b)
	b = append(b, tcp...)
	if s.proto == 0 {
		binary.BigEndian.PutUint16(b[tcpOff+16:], ^oracleTCPSum(b, tcpOff))
	}
	return append(b, s.trailer...)
}

// oracleTCPSum returns the folded ones-complement sum, computed with
// gopacket's checksum code, of the TCP pseudo-header (addresses from the IP
// header, protocol 6, segment length) and of the TCP segment at tcpOff of the
// IP packet b (no trailing bytes). 0xffff means the TCP checksum is right.
func oracleTCPSum(b []byte, tcpOff int) uint16 {
	var pseudo uint32
	if b[0]>>4 == 6 {
		pseudo = gopacket.ComputeChecksum(b[8:40], 0)
	} else {
		pseudo = gopacket.ComputeChecksum(b[12:20], 0)
	}
	pseudo += 6 + uint32(len(b)-tcpOff)
	return ^gopacket.FoldChecksum(gopacket.ComputeChecksum(b[tcpOff:], pseudo))
}

// oracleIPv4Sum returns the folded ones-complement sum of the IPv4 header of
// b; 0xffff means the header checksum is right.
func oracleIPv4Sum(b []byte) uint16 {
	return ^gopacket.FoldChecksum(gopacket.ComputeChecksum(b[:int(b[0]&0xf)*4], 0))
}

// onesResidual normalises a folded ones-complement sum to [0, 0xfffe] so that
// the two representations of zero compare equal: it is how far (in
// ones-complement arithmetic) a checksum is from the right one.
func onesResidual(sum uint16) uint16 {
	if sum == 0xffff {
		return 0
	}
	return sum
}

// gopacketCheck decodes b with gopacket and checks, against gopacket's view,
// the IP length fields and the IPv4 header checksum, and that the TCP
// checksum verifies. It returns gopacket's TCP layer.
func gopacketCheck(tb testing.TB, b []byte) *layers.TCP {
	tb.Helper()
	var pkt gopacket.Packet
	if b[0]>>4 == 4 {
		pkt = gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	} else {
		pkt = gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
	}
	if el := pkt.ErrorLayer(); el != nil {
		tb.Fatalf("gopacket cannot decode the packet: %v", el.Error())
	}
	nl := pkt.NetworkLayer()
	switch ip := nl.(type) {
	case *layers.IPv4:
		if int(ip.Length) != len(b) {
			tb.Errorf("IPv4 total length %d, packet has %d bytes", ip.Length, len(b))
		}
		hdr := append([]byte(nil), b[:int(ip.IHL)*4]...)
		hdr[10], hdr[11] = 0, 0
		if want := gopacket.FoldChecksum(gopacket.ComputeChecksum(hdr, 0)); ip.Checksum != want {
			tb.Errorf("IPv4 header checksum %#04x, want %#04x", ip.Checksum, want)
		}
	case *layers.IPv6:
		if int(ip.Length) != len(b)-40 {
			tb.Errorf("IPv6 payload length %d, packet has %d bytes after the fixed header", ip.Length, len(b)-40)
		}
	default:
		tb.Fatalf("unexpected network layer %T", nl)
	}
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		tb.Fatalf("gopacket found no TCP layer")
	}
	if err := tcp.SetNetworkLayerForChecksum(nl); err != nil {
		tb.Fatal(err)
	}
	err, res := tcp.VerifyChecksum()
	if err != nil {
		tb.Fatal(err)
	}
	if !res.Valid {
		tb.Errorf("TCP checksum %#04x is wrong, gopacket computes %#04x", res.Actual, res.Correct)
	}
	return tcp
}

// sackOpt returns a TCP SACK option (kind 5) with the given blocks, preceded
// by two NOPs so its blocks are 32-bit aligned.
func sackOpt(blocks ...[2]uint32) []byte {
	o := []byte{1, 1, 5, byte(2 + 8*len(blocks))}
	for _, bl := range blocks {
		o = binary.BigEndian.AppendUint32(o, bl[0])
		o = binary.BigEndian.AppendUint32(o, bl[1])
	}
	return o
}

func mustDecode(tb testing.TB, b []byte) *Packet {
	tb.Helper()
	p := new(Packet)
	if err := Decode(b, p); err != nil {
		tb.Fatalf("Decode: %v", err)
	}
	return p
}
