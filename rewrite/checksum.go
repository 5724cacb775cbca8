package rewrite

import "encoding/binary"

// Checksum returns the 16-bit ones-complement sum (RFC 1071) of initial and
// of the big-endian 16-bit words of b, folded to 16 bits with end-around
// carry. An odd trailing byte is summed as if followed by a zero byte.
//
// The result is the sum itself, NOT its complement, so that sums can be
// chained: initial may be the result of a previous Checksum call or any
// partial sum (for example a pseudo-header: addresses, protocol, length, each
// as 16-bit words added into a uint32), and Checksum(b2, uint32(Checksum(b1,
// 0))) equals Checksum of b1 followed by b2 when len(b1) is even.
//
//   - To fill a checksum field: zero it, then store ^Checksum(data, pseudo).
//   - To verify: Checksum(data, pseudo) == 0xffff with the field in place.
//
// A sum over data that is not all zero is never 0; a sum is 0 only when
// initial and every word are 0.
func Checksum(b []byte, initial uint32) uint16 {
	return fold(sumBytes(b, uint64(initial)))
}

// sumBytes adds the big-endian 16-bit words of b to acc without folding.
// Summing 32-bit big-endian words into a 64-bit accumulator is equivalent
// (after folding) to summing 16-bit words, because 2^16 ≡ 1 (mod 2^16-1).
func sumBytes(b []byte, acc uint64) uint64 {
	for len(b) >= 16 {
		acc += uint64(binary.BigEndian.Uint32(b[0:4])) +
			uint64(binary.BigEndian.Uint32(b[4:8])) +
			uint64(binary.BigEndian.Uint32(b[8:12])) +
			uint64(binary.BigEndian.Uint32(b[12:16]))
		b = b[16:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces a 64-bit accumulator to a 16-bit ones-complement sum with
// end-around carry. fold(0) == 0; any non-zero accumulator folds to a value
// in [1, 0xffff].
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = (acc >> 16) + (acc & 0xffff)
	}
	return uint16(acc)
}

// csumDelta accumulates the ones-complement difference between old and new
// values of the fields a packet rewrite changes (RFC 1624 eqn. 3 is
// HC' = ~(~HC + ~m + m'); csumDelta holds the sum of the ~m + m' terms).
type csumDelta uint64

// sub removes the 16-bit sum s of an old value.
func (d *csumDelta) sub(s uint16) { *d += csumDelta(^s) }

// add adds the 16-bit sum s of a new value.
func (d *csumDelta) add(s uint16) { *d += csumDelta(s) }

// apply returns checksum field value hc updated by the accumulated
// difference. When the difference is zero in ones-complement arithmetic
// (folds to 0 or to 0xffff, the two representations of zero) hc is returned
// unchanged, so a rewrite that changes nothing leaves the packet
// byte-identical even if its checksum field is 0xffff.
func (d csumDelta) apply(hc uint16) uint16 {
	delta := fold(uint64(d))
	if delta == 0 || delta == 0xffff {
		return hc
	}
	return ^fold(uint64(^hc) + uint64(delta))
}

// ChecksumOK reports whether p's TCP checksum (and, for IPv4, its header
// checksum) verify. A receiver discards a segment whose checksum is bad,
// so its bytes are never read. The TCP pseudo-header uses p.Src and p.Dst
// as they stand (an IPv6 routing header naming another final destination
// makes a correct packet fail: such packets are not expected on an FTP
// control connection).
func (p *Packet) ChecksumOK() bool {
	if len(p.B) < p.IPHdrLen {
		return false
	}
	tcp := p.B[p.IPHdrLen:]
	var pseudo uint32
	if p.Version == 4 {
		if len(p.B) < 20 || Checksum(p.B[:p.IPHdrLen], 0) != 0xffff {
			return false
		}
		pseudo = uint32(Checksum(p.B[12:20], 6+uint32(len(tcp))))
	} else {
		if len(p.B) < 40 {
			return false
		}
		pseudo = uint32(Checksum(p.B[8:40], 6+uint32(len(tcp))))
	}
	return Checksum(tcp, pseudo) == 0xffff
}
