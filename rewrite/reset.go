package rewrite

import "encoding/binary"

// Reset writes into dst a TCP RST segment that replaces p on the wire: the
// same addresses and ports, sequence number seq, and, when withAck is set,
// the ACK flag with acknowledgment number ack. The segment carries no
// payload and no TCP options; the IPv4 header keeps p's TTL, TOS and ID
// but drops IP options, the IPv6 header keeps traffic class, flow label and
// hop limit but drops extension headers. Both checksums are computed in
// full (the packet is new, not an edit of p). Reset returns dst[:n],
// growing dst only if its capacity is too small, or nil if p was not
// filled by a successful Decode. dst must not overlap p.B.
//
// A receiver accepts an RST whose sequence number is exactly the next one
// it expects (RFC 5961 section 3.2), so seq must be the first byte the
// receiver has not seen, in the receiver's sequence space.
func Reset(dst []byte, p *Packet, seq, ack Seq, withAck bool) []byte {
	if !p.valid() {
		return nil
	}
	ipLen := ipv4MinHeaderLen
	if p.Version == 6 {
		ipLen = ipv6HeaderLen
	}
	n := ipLen + tcpMinHeaderLen
	out := dst[:0]
	if cap(out) < n {
		out = make([]byte, n)
	}
	out = out[:n]
	clear(out)
	var pseudo uint32
	if p.Version == 4 {
		copy(out, p.B[:ipv4MinHeaderLen])
		out[0] = 0x45
		binary.BigEndian.PutUint16(out[ipv4TotalLenOff:], uint16(n))
		binary.BigEndian.PutUint16(out[ipv4FragOff:], 0x4000) // DF, no fragment
		out[ipv4ChecksumOff], out[ipv4ChecksumOff+1] = 0, 0
		binary.BigEndian.PutUint16(out[ipv4ChecksumOff:], ^Checksum(out[:ipv4MinHeaderLen], 0))
		pseudo = uint32(Checksum(out[ipv4SrcOff:ipv4DstOff+4], 0))
	} else {
		copy(out, p.B[:ipv6HeaderLen])
		binary.BigEndian.PutUint16(out[ipv6PayloadLenOff:], tcpMinHeaderLen)
		out[ipv6NextHdrOff] = 6
		pseudo = uint32(Checksum(out[ipv6SrcOff:ipv6DstOff+16], 0))
	}
	pseudo += 6 + tcpMinHeaderLen // protocol and upper-layer length
	tcp := out[ipLen:]
	binary.BigEndian.PutUint16(tcp[0:], p.SrcPort)
	binary.BigEndian.PutUint16(tcp[2:], p.DstPort)
	binary.BigEndian.PutUint32(tcp[tcpSeqOff:], uint32(seq))
	tcp[tcpDataOffOff] = 5 << 4
	tcp[tcpFlagsOff] = FlagRST
	if withAck {
		binary.BigEndian.PutUint32(tcp[tcpAckOff:], uint32(ack))
		tcp[tcpFlagsOff] |= FlagACK
	}
	binary.BigEndian.PutUint16(tcp[tcpChecksumOff:], ^Checksum(tcp, pseudo))
	return out
}
