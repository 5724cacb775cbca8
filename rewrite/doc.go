// Package rewrite owns the byte-level work of the FTP gateway's control
// channel: it decodes one raw IPv4 or IPv6 packet carrying TCP (as handed over
// by NFQUEUE, starting at the IP header), records the payload edits the
// gateway makes to each direction of a connection, translates sequence,
// acknowledgment and SACK numbers between the original and the edited byte
// streams, and writes the rewritten packet back with consistent lengths and
// checksums.
//
// The package owns:
//
//   - [Packet] and [Decode]: a validated, allocation-free view of an IP packet
//     carrying TCP. Everything the other functions rely on (header lengths,
//     total length, the TCP data offset) is checked by Decode, so accessors can
//     trust the view. Fragments ([ErrFragment]) and other protocols
//     ([ErrNotTCP]) are rejected with distinct errors.
//   - [Seq]: TCP sequence numbers with wrapping comparisons.
//   - [Adjuster]: for ONE direction of a connection, the list of edits
//     (original bytes [start, end) replaced by a replacement) and the mapping
//     between the original sequence space (what the sender produced) and the
//     output sequence space (what the receiver sees): [Adjuster.Map] for
//     sequence numbers of that direction, [Adjuster.Unmap] and
//     [Adjuster.UnmapSACK] for acknowledgment numbers and SACK blocks flowing
//     back in the other direction, and [Adjuster.Output] to produce the edited
//     payload of any (possibly retransmitted, possibly re-segmented) segment.
//   - [Rebuild]: the rewritten packet, with new sequence/ack numbers, a new
//     payload, SACK edges translated, the IP length fields and the IPv4 header
//     checksum fixed, and the TCP checksum updated incrementally.
//   - [Checksum]: the RFC 1071 ones-complement sum.
//
// The package does not own connection tracking (which adjuster belongs to
// which direction, when to call [Adjuster.Release]), FTP parsing, or the
// netfilter queue; those live in other packages.
//
// # Standards followed
//
//   - RFC 791 (IPv4): header layout, IHL, total length, fragment fields
//     (MF flag, fragment offset), header checksum.
//   - RFC 8200 (IPv6): fixed header, payload length, and the extension header
//     chain: hop-by-hop options (0, only directly after the fixed header),
//     routing (43) and destination options (60) are walked; a fragment header
//     (44) means [ErrFragment]; any other next header means [ErrNotTCP];
//     payload length 0 (a jumbogram, RFC 2675) is rejected. The upper-layer
//     length used in the TCP pseudo-header (RFC 8200 §8.1) is the payload
//     length minus the extension headers.
//   - RFC 9293 (TCP): header layout, data offset, options (end of list,
//     no-operation, kind/length), sequence number arithmetic modulo 2^32
//     (§3.4), and the pseudo-header checksum (§3.1).
//   - RFC 2018 (SACK): the SACK option (kind 5, length 2+8n) whose blocks are
//     [left, right) edges in the receiver's view of the sender's stream.
//   - RFC 1071 and RFC 1624 (Internet checksum): the ones-complement sum and
//     its incremental update HC' = ~(~HC + ~m + m'), eqn. 3 of RFC 1624.
//
// # Checksums are updated, never recomputed
//
// [Rebuild] never computes a checksum from scratch: it adds the ones-complement
// difference between the old and the new value of every field it changes (and
// of the old and new payload) to the checksum the packet arrived with. A
// packet that arrived with a correct checksum leaves with a correct one; a
// packet that arrived with a wrong checksum leaves wrong by exactly the same
// amount, so the gateway never launders corruption into a valid segment. The
// same holds for the IPv4 header checksum.
//
// # Sequence spaces
//
// Each direction of a connection has an original space (the sender's
// numbers) and an output space (the receiver's numbers). Edits are recorded
// in original space, in stream order. All positions the caller passes must
// lie within 2^31 of one another (guaranteed by TCP's window limits), since
// comparisons use wrapping arithmetic.
//
// # Allocation
//
// Decode, Map, Unmap, UnmapSACK, Identity, Output into a buffer with enough
// capacity, and Rebuild into a buffer with enough capacity do not allocate.
// Error paths may allocate (the errors carry the offending values).
package rewrite
