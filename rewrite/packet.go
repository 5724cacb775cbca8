package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// TCP flag bits of the flags byte (offset 13 of the TCP header).
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
	FlagECE = 0x40
	FlagCWR = 0x80
)

// IP protocol / IPv6 next-header numbers the decoder knows.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoRouting  = 43
	protoFragment = 44
	protoDestOpts = 60
)

// Header sizes and field offsets.
const (
	ipv4MinHeaderLen = 20
	ipv6HeaderLen    = 40
	ipv6ExtMinLen    = 8
	tcpMinHeaderLen  = 20

	ipv4TotalLenOff = 2
	ipv4FragOff     = 6
	ipv4ProtoOff    = 9
	ipv4ChecksumOff = 10
	ipv4SrcOff      = 12
	ipv4DstOff      = 16

	ipv6PayloadLenOff = 4
	ipv6NextHdrOff    = 6
	ipv6SrcOff        = 8
	ipv6DstOff        = 24

	tcpSeqOff      = 4
	tcpAckOff      = 8
	tcpDataOffOff  = 12
	tcpFlagsOff    = 13
	tcpWindowOff   = 14
	tcpChecksumOff = 16

	// maxIPLength is the largest value of the 16-bit IPv4 total length and
	// IPv6 payload length fields.
	maxIPLength = 0xffff
)

// TCP option kinds (RFC 9293 §3.1, RFC 2018).
const (
	optEnd  = 0
	optNOP  = 1
	optSACK = 5
)

var (
	// ErrFragment reports an IPv4 fragment (more-fragments flag set or
	// non-zero fragment offset) or an IPv6 packet with a fragment header.
	// The gateway only sees reassembled packets from the kernel, so a
	// fragment here is passed through untouched by the caller.
	ErrFragment = errors.New("rewrite: packet is a fragment")
	// ErrNotTCP reports a packet whose transport protocol is not TCP (or
	// whose IPv6 extension header chain holds a header the decoder does not
	// walk, such as AH or ESP).
	ErrNotTCP = errors.New("rewrite: packet does not carry TCP")
	// ErrMalformed reports a packet whose headers are inconsistent with each
	// other or with the buffer: truncated, bad lengths, bad version.
	ErrMalformed = errors.New("rewrite: malformed packet")
)

// detailError is the error type returned by this package: a message that
// says what is wrong and where, wrapping one of the exported sentinel errors
// (ErrFragment, ErrNotTCP, ErrMalformed, ErrEditOrder, ...) for errors.Is.
type detailError struct {
	msg  string
	kind error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &detailError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// Packet is a decoded view of one IPv4 or IPv6 packet carrying TCP. Decode
// fills it without allocating; the slices alias the decoded buffer.
type Packet struct {
	B                []byte // the whole IP packet (B[:ip total length]; trailing bytes beyond the IP length are excluded)
	Version          uint8  // 4 or 6
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq, Ack         Seq
	Flags            uint8 // TCP flags byte
	Window           uint16
	IPHdrLen         int    // offset of the TCP header in B (IPv6: including extension headers)
	TCPHdrLen        int    // data offset * 4
	Payload          []byte // B[IPHdrLen+TCPHdrLen:]
}

// Decode parses b, a raw IP packet starting at the IP header, into p. It
// validates everything the view relies on:
//
//   - the IP version is 4 or 6;
//   - IPv4: IHL >= 5, header (with options) within the total length, total
//     length within b; not a fragment (ErrFragment); protocol TCP (ErrNotTCP);
//   - IPv6: payload length non-zero (jumbograms are rejected) and within b;
//     hop-by-hop (only first), routing and destination options headers are
//     walked with their lengths checked; a fragment header gives
//     ErrFragment, any other next header ErrNotTCP;
//   - TCP: the fixed header and the data offset (>= 5) lie within the packet.
//
// Bytes of b beyond the IP length (link-layer padding) are excluded from
// p.B. On error p is zeroed and the error (wrapping ErrFragment, ErrNotTCP or
// ErrMalformed) says what is wrong and at which offset. Decode never panics
// and, on success, never allocates.
func Decode(b []byte, p *Packet) error {
	*p = Packet{}
	if len(b) == 0 {
		return errorf(ErrMalformed, "rewrite: ip: empty buffer")
	}
	var err error
	switch v := b[0] >> 4; v {
	case 4:
		err = decodeIPv4(b, p)
	case 6:
		err = decodeIPv6(b, p)
	default:
		err = errorf(ErrMalformed, "rewrite: ip: version %d at offset 0 is neither 4 nor 6", v)
	}
	if err != nil {
		*p = Packet{}
	}
	return err
}

func decodeIPv4(b []byte, p *Packet) error {
	if len(b) < ipv4MinHeaderLen {
		return errorf(ErrMalformed, "rewrite: ipv4: buffer of %d bytes is shorter than the %d-byte header", len(b), ipv4MinHeaderLen)
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < ipv4MinHeaderLen {
		return errorf(ErrMalformed, "rewrite: ipv4: header length %d (IHL %d) at offset 0 is below the minimum of %d", ihl, ihl/4, ipv4MinHeaderLen)
	}
	total := int(binary.BigEndian.Uint16(b[ipv4TotalLenOff:]))
	if total > len(b) {
		return errorf(ErrMalformed, "rewrite: ipv4: total length %d exceeds buffer of %d bytes", total, len(b))
	}
	if ihl > total {
		return errorf(ErrMalformed, "rewrite: ipv4: header length %d (IHL at offset 0) exceeds total length %d", ihl, total)
	}
	if ff := binary.BigEndian.Uint16(b[ipv4FragOff:]); ff&0x3fff != 0 {
		return errorf(ErrFragment, "rewrite: ipv4: fragment (more-fragments %t, fragment offset %d) at offset %d", ff&0x2000 != 0, (ff&0x1fff)*8, ipv4FragOff)
	}
	if proto := b[ipv4ProtoOff]; proto != protoTCP {
		return errorf(ErrNotTCP, "rewrite: ipv4: protocol %d at offset %d is not TCP (%d)", proto, ipv4ProtoOff, protoTCP)
	}
	p.B = b[:total]
	p.Version = 4
	p.Src = netip.AddrFrom4([4]byte(b[ipv4SrcOff : ipv4SrcOff+4]))
	p.Dst = netip.AddrFrom4([4]byte(b[ipv4DstOff : ipv4DstOff+4]))
	return decodeTCP(p, ihl)
}

func decodeIPv6(b []byte, p *Packet) error {
	if len(b) < ipv6HeaderLen {
		return errorf(ErrMalformed, "rewrite: ipv6: buffer of %d bytes is shorter than the %d-byte header", len(b), ipv6HeaderLen)
	}
	plen := int(binary.BigEndian.Uint16(b[ipv6PayloadLenOff:]))
	if plen == 0 {
		return errorf(ErrMalformed, "rewrite: ipv6: payload length 0 at offset %d (jumbogram) is not supported", ipv6PayloadLenOff)
	}
	if ipv6HeaderLen+plen > len(b) {
		return errorf(ErrMalformed, "rewrite: ipv6: payload length %d at offset %d exceeds the %d bytes after the header", plen, ipv6PayloadLenOff, len(b)-ipv6HeaderLen)
	}
	pkt := b[:ipv6HeaderLen+plen]
	nh, nhOff, off := pkt[ipv6NextHdrOff], ipv6NextHdrOff, ipv6HeaderLen
	for nh != protoTCP {
		switch nh {
		case protoHopByHop, protoRouting, protoDestOpts:
			if nh == protoHopByHop && off != ipv6HeaderLen {
				return errorf(ErrMalformed, "rewrite: ipv6: hop-by-hop options header at offset %d does not follow the fixed header", off)
			}
			if off+ipv6ExtMinLen > len(pkt) {
				return errorf(ErrMalformed, "rewrite: ipv6: extension header %d at offset %d truncated: %d bytes left, need %d", nh, off, len(pkt)-off, ipv6ExtMinLen)
			}
			n := (int(pkt[off+1]) + 1) * 8
			if off+n > len(pkt) {
				return errorf(ErrMalformed, "rewrite: ipv6: extension header %d at offset %d has length %d, exceeding the %d bytes left", nh, off, n, len(pkt)-off)
			}
			nh, nhOff, off = pkt[off], off, off+n
		case protoFragment:
			return errorf(ErrFragment, "rewrite: ipv6: fragment header at offset %d", off)
		default:
			return errorf(ErrNotTCP, "rewrite: ipv6: next header %d at offset %d is not TCP (%d)", nh, nhOff, protoTCP)
		}
	}
	p.B = pkt
	p.Version = 6
	p.Src = netip.AddrFrom16([16]byte(pkt[ipv6SrcOff : ipv6SrcOff+16]))
	p.Dst = netip.AddrFrom16([16]byte(pkt[ipv6DstOff : ipv6DstOff+16]))
	return decodeTCP(p, off)
}

// decodeTCP parses the TCP header at offset off of p.B.
func decodeTCP(p *Packet, off int) error {
	b := p.B
	if off+tcpMinHeaderLen > len(b) {
		return errorf(ErrMalformed, "rewrite: tcp: header at offset %d truncated: %d bytes left, need %d", off, len(b)-off, tcpMinHeaderLen)
	}
	t := b[off:]
	hl := int(t[tcpDataOffOff]>>4) * 4
	if hl < tcpMinHeaderLen {
		return errorf(ErrMalformed, "rewrite: tcp: data offset %d at offset %d is below the minimum of 5", hl/4, off+tcpDataOffOff)
	}
	if hl > len(t) {
		return errorf(ErrMalformed, "rewrite: tcp: header length %d (data offset at offset %d) exceeds the %d bytes left in the packet", hl, off+tcpDataOffOff, len(t))
	}
	p.SrcPort = binary.BigEndian.Uint16(t[0:])
	p.DstPort = binary.BigEndian.Uint16(t[2:])
	p.Seq = Seq(binary.BigEndian.Uint32(t[tcpSeqOff:]))
	p.Ack = Seq(binary.BigEndian.Uint32(t[tcpAckOff:]))
	p.Flags = t[tcpFlagsOff]
	p.Window = binary.BigEndian.Uint16(t[tcpWindowOff:])
	p.IPHdrLen = off
	p.TCPHdrLen = hl
	p.Payload = b[off+hl:]
	return nil
}

// valid reports whether p looks like the result of a successful Decode, so
// that slicing p.B by its header lengths cannot panic.
func (p *Packet) valid() bool {
	return (p.Version == 4 || p.Version == 6) &&
		p.IPHdrLen >= ipv4MinHeaderLen && p.TCPHdrLen >= tcpMinHeaderLen &&
		p.IPHdrLen+p.TCPHdrLen <= len(p.B)
}

// TCPHeader returns the TCP header of p (fixed part and options), or nil if
// p was not filled by a successful Decode.
func (p *Packet) TCPHeader() []byte {
	if !p.valid() {
		return nil
	}
	return p.B[p.IPHdrLen : p.IPHdrLen+p.TCPHdrLen]
}

// Options returns the TCP options of p (possibly empty), or nil if p was not
// filled by a successful Decode.
func (p *Packet) Options() []byte {
	if !p.valid() {
		return nil
	}
	return p.B[p.IPHdrLen+tcpMinHeaderLen : p.IPHdrLen+p.TCPHdrLen]
}

// MaxPayload returns the longest payload Rebuild can give p: the one that
// brings the IPv4 total length, or the IPv6 payload length, to 65535.
func (p *Packet) MaxPayload() int {
	hdr := p.IPHdrLen + p.TCPHdrLen
	if p.Version == 6 {
		return maxIPLength + ipv6HeaderLen - hdr
	}
	return maxIPLength - hdr
}

// SACKBlocks appends to dst the SACK blocks (RFC 2018) found in p's TCP
// options, as [left, right) pairs, and returns the extended slice. Parsing
// stops at the end-of-options kind, at the end of the options, or at the
// first malformed option (a length below 2 or beyond the options, or a SACK
// option whose length is not 2+8n with n >= 1); the blocks found before it
// are returned. With a dst of enough capacity it does not allocate.
func (p *Packet) SACKBlocks(dst [][2]Seq) [][2]Seq {
	it := optIter{b: p.Options()}
	for {
		start, n, ok := it.nextSACK()
		if !ok {
			return dst
		}
		for o := start + 2; o < start+n; o += 8 {
			dst = append(dst, [2]Seq{
				Seq(binary.BigEndian.Uint32(it.b[o:])),
				Seq(binary.BigEndian.Uint32(it.b[o+4:])),
			})
		}
	}
}

// optIter walks TCP options (RFC 9293 §3.1): kind 0 ends the list, kind 1 is
// a one-byte no-operation, every other kind has a length byte that counts
// the kind and length bytes.
type optIter struct {
	b   []byte
	off int
}

// next returns the offset and length of the next option other than NOP, or
// ok == false at the end of the list or at a malformed option.
func (it *optIter) next() (kind byte, start, n int, ok bool) {
	for it.off < len(it.b) {
		k := it.b[it.off]
		switch k {
		case optEnd:
			it.off = len(it.b)
			return 0, 0, 0, false
		case optNOP:
			it.off++
			continue
		}
		if it.off+1 >= len(it.b) {
			break
		}
		l := int(it.b[it.off+1])
		if l < 2 || it.off+l > len(it.b) {
			break
		}
		start = it.off
		it.off += l
		return k, start, l, true
	}
	it.off = len(it.b)
	return 0, 0, 0, false
}

// nextSACK returns the offset and length of the next well-formed SACK
// option; it stops (ok == false) at the end of the list or at the first
// malformed option, including a SACK option of a bad length.
func (it *optIter) nextSACK() (start, n int, ok bool) {
	for {
		kind, start, n, ok := it.next()
		if !ok {
			return 0, 0, false
		}
		if kind != optSACK {
			continue
		}
		if n < 10 || (n-2)%8 != 0 {
			it.off = len(it.b)
			return 0, 0, false
		}
		return start, n, true
	}
}
