package rewrite

import (
	"encoding/binary"
	"errors"
)

// ErrTooLong reports a rebuilt packet whose IPv4 total length or IPv6
// payload length would exceed 65535.
var ErrTooLong = errors.New("rewrite: rebuilt packet too long")

// Rebuild writes into dst a copy of p with its TCP sequence number set to
// seq, its acknowledgment number set to ack and its payload replaced by
// payload (pass p.Payload to keep it). If sack is non-nil and not the
// identity, every SACK block in the TCP options is passed through
// sack.UnmapSACK; a block that becomes empty is rewritten as the zero-length
// block [ack, ack), which the receiver ignores. SACK blocks name the other
// direction's stream, so sack is the Adjuster of the direction p
// acknowledges, and ack is normally that Adjuster's Unmap(p.Ack).
//
// Rebuild then sets the IPv4 total length (updating the IPv4 header checksum)
// or the IPv6 payload length, and updates the TCP checksum incrementally
// (RFC 1624): the ones-complement difference between the old and new values
// of the sequence and acknowledgment numbers, of the options, of the
// pseudo-header length and of the old and new payload is added to the
// checksum the packet arrived with. A packet that arrived with a wrong
// checksum therefore leaves wrong by exactly the same amount; it is never
// "fixed". A rebuild that changes nothing leaves the bytes identical.
//
// dst may share its start with p.B (rebuild in place, growing into p.B's
// spare capacity if it has some) for any payload length; otherwise dst must
// not overlap p.B. payload may alias p.B (for example p.Payload or a part of
// it) but must not overlap dst elsewhere than at p.Payload's own place.
// p.B must still hold the packet as decoded: the checksum update reads the
// old values from it, so editing p.Payload in place and then passing it to
// Rebuild leaves a wrong checksum; build the new payload elsewhere (Output
// does). Rebuild returns dst[:newLen], growing dst only if its capacity is
// too small, so with a big enough buffer it does not allocate. After
// Rebuild, p is stale; re-Decode the result if needed.
//
// Rebuild returns nil if p was not filled by a successful Decode or if the
// payload is longer than p.MaxPayload(); RebuildChecked returns the reason.
func Rebuild(dst []byte, p *Packet, seq, ack Seq, sack *Adjuster, payload []byte) []byte {
	out, err := RebuildChecked(dst, p, seq, ack, sack, payload)
	if err != nil {
		return nil
	}
	return out
}

// RebuildChecked is Rebuild, returning an error (wrapping ErrMalformed or
// ErrTooLong) instead of nil when the packet cannot be rebuilt.
func RebuildChecked(dst []byte, p *Packet, seq, ack Seq, sack *Adjuster, payload []byte) ([]byte, error) {
	if !p.valid() {
		return nil, errorf(ErrMalformed, "rewrite: rebuild: packet was not decoded (version %d, IP header %d bytes, TCP header %d bytes, buffer %d bytes)", p.Version, p.IPHdrLen, p.TCPHdrLen, len(p.B))
	}
	if lim := p.MaxPayload(); len(payload) > lim {
		return nil, errorf(ErrTooLong, "rewrite: rebuild: IPv%d payload of %d bytes exceeds the %d bytes the 16-bit length field allows after %d bytes of headers", p.Version, len(payload), lim, p.IPHdrLen+p.TCPHdrLen)
	}
	old := p.B
	ip, hdr := p.IPHdrLen, p.IPHdrLen+p.TCPHdrLen
	newLen := hdr + len(payload)
	samePayload := len(payload) == len(old)-hdr && (len(payload) == 0 || &payload[0] == &old[hdr])
	rewriteSACK := sack != nil && !sack.Identity() && p.TCPHdrLen > tcpMinHeaderLen

	// Everything read from the old packet is read before dst is written,
	// since dst may be p.B itself.
	var d csumDelta
	oldTCP := old[ip:hdr]
	d.sub(Checksum(oldTCP[tcpSeqOff:tcpAckOff+4], 0))
	if rewriteSACK {
		d.sub(Checksum(oldTCP[tcpMinHeaderLen:], 0))
	}
	if !samePayload {
		d.sub(Checksum(old[hdr:], 0))
	}
	d.sub(uint16(len(old) - ip)) // pseudo-header TCP / upper-layer length
	d.add(uint16(newLen - ip))
	oldTCPSum := binary.BigEndian.Uint16(oldTCP[tcpChecksumOff:])
	var oldTotal, oldIPSum uint16
	if p.Version == 4 {
		oldTotal = binary.BigEndian.Uint16(old[ipv4TotalLenOff:])
		oldIPSum = binary.BigEndian.Uint16(old[ipv4ChecksumOff:])
	}

	var out []byte
	if cap(dst) >= newLen {
		out = dst[:newLen]
	} else {
		out = make([]byte, newLen)
	}
	copy(out[:hdr], old[:hdr])
	if len(payload) > 0 && &out[hdr] != &payload[0] {
		copy(out[hdr:], payload)
	}

	if p.Version == 4 {
		binary.BigEndian.PutUint16(out[ipv4TotalLenOff:], uint16(newLen))
		var hd csumDelta
		hd.sub(oldTotal)
		hd.add(uint16(newLen))
		binary.BigEndian.PutUint16(out[ipv4ChecksumOff:], hd.apply(oldIPSum))
	} else {
		binary.BigEndian.PutUint16(out[ipv6PayloadLenOff:], uint16(newLen-ipv6HeaderLen))
	}

	tcp := out[ip:hdr]
	binary.BigEndian.PutUint32(tcp[tcpSeqOff:], uint32(seq))
	binary.BigEndian.PutUint32(tcp[tcpAckOff:], uint32(ack))
	d.add(Checksum(tcp[tcpSeqOff:tcpAckOff+4], 0))
	if rewriteSACK {
		opts := tcp[tcpMinHeaderLen:]
		unmapSACKOptions(opts, sack, ack)
		d.add(Checksum(opts, 0))
	}
	if !samePayload {
		d.add(Checksum(out[hdr:], 0))
	}
	binary.BigEndian.PutUint16(tcp[tcpChecksumOff:], d.apply(oldTCPSum))
	return out, nil
}

// unmapSACKOptions rewrites in place every block of every well-formed SACK
// option in opts through sack.UnmapSACK, replacing blocks that become empty
// by [ack, ack). It stops at the first malformed option, like SACKBlocks.
func unmapSACKOptions(opts []byte, sack *Adjuster, ack Seq) {
	it := optIter{b: opts}
	for {
		start, n, ok := it.nextSACK()
		if !ok {
			return
		}
		for o := start + 2; o < start+n; o += 8 {
			l := Seq(binary.BigEndian.Uint32(opts[o:]))
			r := Seq(binary.BigEndian.Uint32(opts[o+4:]))
			l, r = sack.UnmapSACK(l, r)
			if !l.LessThan(r) {
				l, r = ack, ack
			}
			binary.BigEndian.PutUint32(opts[o:], uint32(l))
			binary.BigEndian.PutUint32(opts[o+4:], uint32(r))
		}
	}
}
