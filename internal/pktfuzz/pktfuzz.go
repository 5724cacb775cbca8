// Package pktfuzz turns fuzz input into the packets of FTP control
// connections, for the fuzz targets of the whole packet path (conntrack's
// Tracker and the daemon's worker). A program is a byte string of
// operations; most are packets described by a few bytes of framing
// (direction, connection, TCP flags, sequence and acknowledgment deltas,
// an optional SACK block, payload), built as IPv4 or IPv6 + TCP packets
// with correct lengths and checksums; others take packet bytes verbatim or
// corrupt a built packet, so that lengths and checksums may be wrong;
// the rest advance time, report a pinhole used, end a flow or resend an
// earlier packet. Builder writes programs, for seeds.
//
// The Reader keeps each connection's sequence state: a packet's sequence
// number is relative to what its sender sent so far, its acknowledgment
// relative to what its receiver got (Delivered tells it, in the output
// sequence space, as a real peer would see it).
//
// It also has an independent checksum check (Residuals), written without
// package rewrite, to judge the packets the inspector emits.
package pktfuzz

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Conn is one control connection, with its endpoints as the inspector sees
// its packets (after destination NAT, before source NAT).
type Conn struct {
	Client, Server netip.AddrPort
	// ISN are the initial sequence numbers of the client and the server.
	ISN [2]uint32
}

// Directions of a packet.
const (
	FromClient = 0
	FromServer = 1
)

// Kind is what an operation does.
type Kind uint8

const (
	// Packet: hand Op.Packet to the inspector.
	Packet Kind = iota + 1
	// Tick: advance the clock by Op.Advance, then tick.
	Tick
	// Used: report an outstanding pinhole used; Op.Index picks which
	// (modulo the number outstanding).
	Used
	// EndFlow: the kernel forgot connection Op.Conn.
	EndFlow
)

// Op is one decoded operation.
type Op struct {
	Kind    Kind
	Conn    int
	Dir     int    // Packet: FromClient or FromServer (framed packets only)
	Packet  []byte // Packet: freshly allocated
	Raw     bool   // Packet: verbatim or corrupted; lengths and checksums may be wrong
	Advance time.Duration
	Index   int
}

// Durations a Tick operation can advance the clock by: around the hold
// timeout (250 ms), the pinhole timeout (30 s), the closed linger (2 min)
// and the session idle time (2 h) of the default policy.
var Durations = [16]time.Duration{
	0, time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 249 * time.Millisecond, 300 * time.Millisecond,
	time.Second, 5 * time.Second, 29 * time.Second, 31 * time.Second,
	time.Minute, 2*time.Minute + time.Second, 10 * time.Minute, 2*time.Hour + time.Second,
}

// Operation bytes. The top two bits select the category:
//
//	00dssccD framed packet: D direction, cc connection, ss bit 3 a seq
//	         delta byte follows, bit 4 an ack delta byte, bit 5 a SACK
//	         block (two bytes); then flags, length, payload
//	01...... the same, then two bytes: offset, value: the byte at offset
//	         is XORed with value, or (value 0) the packet is cut there
//	10...... verbatim: two bytes of length, then the packet
//	11kkxxxx k=0 tick by Durations[x]; k=1 pinhole used, index x;
//	         k=2 end flow of connection x&3; k=3 resend remembered packet x&7
const (
	catFramed  = 0 << 6
	catCorrupt = 1 << 6
	catRaw     = 2 << 6
	catControl = 3 << 6

	bitSeq  = 1 << 3
	bitAck  = 1 << 4
	bitSACK = 1 << 5

	ctlTick   = 0 << 4
	ctlUsed   = 1 << 4
	ctlEnd    = 2 << 4
	ctlResend = 3 << 4
)

// MaxConns is the number of connections a program can address.
const MaxConns = 4

type conn struct {
	Conn
	sndNxt [2]uint32 // next sequence number each side sends (its own space)
	rcvNxt [2]uint32 // next sequence number each side expects (as delivered)
}

// Reader decodes a program operation by operation.
type Reader struct {
	prog  []byte
	conns []*conn
	sent  [8][]byte // the last packets built, for resends
	nsent int
}

// NewReader returns a Reader of prog over conns (at most MaxConns; a
// framed packet's connection number is taken modulo len(conns)).
func NewReader(prog []byte, conns []Conn) *Reader {
	r := &Reader{prog: prog}
	for _, c := range conns[:min(len(conns), MaxConns)] {
		r.conns = append(r.conns, &conn{Conn: c, sndNxt: c.ISN})
	}
	return r
}

func (r *Reader) byte() (byte, bool) {
	if len(r.prog) == 0 {
		return 0, false
	}
	b := r.prog[0]
	r.prog = r.prog[1:]
	return b, true
}

func (r *Reader) take(n int) []byte {
	n = min(n, len(r.prog))
	b := r.prog[:n]
	r.prog = r.prog[n:]
	return b
}

// Next returns the next operation, or false at the end of the program.
func (r *Reader) Next() (Op, bool) {
	c, ok := r.byte()
	if !ok {
		return Op{}, false
	}
	switch c & (3 << 6) {
	case catFramed, catCorrupt:
		op := r.framed(c)
		if c&(3<<6) == catCorrupt && len(op.Packet) > 0 {
			off, _ := r.byte()
			val, _ := r.byte()
			i := int(off) % len(op.Packet)
			if val == 0 {
				op.Packet = op.Packet[:i]
			} else {
				op.Packet[i] ^= val
			}
			op.Raw = true
		}
		r.remember(op.Packet)
		return op, true
	case catRaw:
		hi, _ := r.byte()
		lo, _ := r.byte()
		b := append([]byte(nil), r.take(int(hi)<<8|int(lo))...)
		r.remember(b)
		return Op{Kind: Packet, Packet: b, Raw: true}, true
	}
	x := int(c & 15)
	switch c & (3 << 4) {
	case ctlTick:
		return Op{Kind: Tick, Advance: Durations[x]}, true
	case ctlUsed:
		return Op{Kind: Used, Index: x}, true
	case ctlEnd:
		return Op{Kind: EndFlow, Conn: x % max(len(r.conns), 1)}, true
	}
	b := r.sent[x&7]
	if b == nil {
		return Op{Kind: Tick}, true
	}
	return Op{Kind: Packet, Packet: append([]byte(nil), b...), Raw: true}, true
}

func (r *Reader) remember(b []byte) {
	r.sent[r.nsent%len(r.sent)] = append([]byte(nil), b...)
	r.nsent++
}

// framed decodes the framing after operation byte c and builds the packet.
func (r *Reader) framed(c byte) Op {
	dir := int(c & 1)
	ci := int(c>>1&3) % max(len(r.conns), 1)
	var seqD, ackD int8
	var sackL int8
	var sackN byte
	if c&bitSeq != 0 {
		b, _ := r.byte()
		seqD = int8(b)
	}
	if c&bitAck != 0 {
		b, _ := r.byte()
		ackD = int8(b)
	}
	if c&bitSACK != 0 {
		b, _ := r.byte()
		sackL = int8(b)
		sackN, _ = r.byte()
	}
	flags, _ := r.byte()
	n, _ := r.byte()
	payload := r.take(int(n))
	if len(r.conns) == 0 {
		return Op{Kind: Packet, Dir: dir}
	}
	k := r.conns[ci]
	src, dst := k.Client, k.Server
	if dir == FromServer {
		src, dst = dst, src
	}
	seq := k.sndNxt[dir] + uint32(int32(seqD))
	var ack uint32
	if flags&flagACK != 0 || ackD != 0 {
		ack = k.rcvNxt[dir] + uint32(int32(ackD))
	}
	var sack [][2]uint32
	if c&bitSACK != 0 {
		l := k.rcvNxt[dir] + uint32(int32(sackL))
		sack = [][2]uint32{{l, l + uint32(sackN)}}
	}
	end := seq + uint32(len(payload))
	if flags&flagSYN != 0 {
		end++
	}
	if flags&flagFIN != 0 {
		end++
	}
	if int32(end-k.sndNxt[dir]) > 0 {
		k.sndNxt[dir] = end
	}
	return Op{Kind: Packet, Conn: ci, Dir: dir, Packet: Build(src, dst, seq, ack, flags, payload, sack...)}
}

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// Delivered tells the Reader that b reached its receiver: the receiver's
// next expected sequence number moves as a TCP stack's would.
func (r *Reader) Delivered(b []byte) {
	v, ok := View(b)
	if !ok {
		return
	}
	for _, k := range r.conns {
		var recv int
		switch {
		case v.Src == k.Client && v.Dst == k.Server:
			recv = FromServer
		case v.Src == k.Server && v.Dst == k.Client:
			recv = FromClient
		default:
			continue
		}
		seq, n := v.Seq, uint32(len(v.Payload))
		if v.Flags&flagSYN != 0 {
			k.rcvNxt[recv] = seq + 1
			return
		}
		if v.Flags&flagFIN != 0 {
			n++
		}
		if nxt := k.rcvNxt[recv]; int32(seq-nxt) <= 0 && int32(seq+n-nxt) > 0 {
			k.rcvNxt[recv] = seq + n
		}
		return
	}
}

// Build makes an IPv4 or IPv6 TCP packet from src to dst with correct
// lengths and checksums, and a SACK option with the given blocks if any.
func Build(src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload []byte, sack ...[2]uint32) []byte {
	var opts []byte
	if len(sack) > 0 {
		opts = append(opts, 1, 1, 5, byte(2+8*len(sack)))
		for _, b := range sack {
			opts = binary.BigEndian.AppendUint32(opts, b[0])
			opts = binary.BigEndian.AppendUint32(opts, b[1])
		}
	}
	ipLen := 20
	if src.Addr().Is6() {
		ipLen = 40
	}
	tcpLen := 20 + len(opts)
	b := make([]byte, ipLen+tcpLen+len(payload))
	ip, tcp := b[:ipLen], b[ipLen:]
	if ipLen == 20 {
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(len(b)))
		ip[8], ip[9] = 64, 6
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))
	} else {
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(tcp)))
		ip[6], ip[7] = 6, 64
		s, d := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
	}
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], opts)
	copy(tcp[tcpLen:], payload)
	binary.BigEndian.PutUint16(tcp[16:], ^fold(sum(tcp, pseudo(b, ipLen))))
	return b
}

// V is a minimal independent view of an IP + TCP packet.
type V struct {
	Version  int
	Src, Dst netip.AddrPort
	Seq, Ack uint32
	Flags    uint8
	TCPOff   int // offset of the TCP header
	Payload  []byte
	IPLen    int // the packet's length by its IP header
}

// View parses b without package rewrite: IPv4 (any IHL) or IPv6 with
// hop-by-hop, routing and destination options headers, then TCP. It
// reports false for anything else or anything truncated.
func View(b []byte) (V, bool) {
	var v V
	if len(b) < 1 {
		return v, false
	}
	var proto byte
	var off int
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return v, false
		}
		off = int(b[0]&15) * 4
		v.IPLen = int(binary.BigEndian.Uint16(b[2:]))
		if off < 20 || v.IPLen < off || v.IPLen > len(b) || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return v, false
		}
		proto = b[9]
		v.Version = 4
		v.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), 0)
		v.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), 0)
	case 6:
		if len(b) < 40 {
			return v, false
		}
		v.IPLen = 40 + int(binary.BigEndian.Uint16(b[4:]))
		if v.IPLen == 40 || v.IPLen > len(b) {
			return v, false
		}
		proto, off = b[6], 40
		for proto == 0 || proto == 43 || proto == 60 {
			if off+8 > v.IPLen {
				return v, false
			}
			proto, off = b[off], off+(int(b[off+1])+1)*8
		}
		v.Version = 6
		v.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), 0)
		v.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), 0)
	default:
		return v, false
	}
	if proto != 6 || off+20 > v.IPLen {
		return v, false
	}
	t := b[off:v.IPLen]
	hl := int(t[12]>>4) * 4
	if hl < 20 || hl > len(t) {
		return v, false
	}
	v.Src = netip.AddrPortFrom(v.Src.Addr(), binary.BigEndian.Uint16(t[0:]))
	v.Dst = netip.AddrPortFrom(v.Dst.Addr(), binary.BigEndian.Uint16(t[2:]))
	v.Seq = binary.BigEndian.Uint32(t[4:])
	v.Ack = binary.BigEndian.Uint32(t[8:])
	v.Flags = t[13]
	v.TCPOff = off
	v.Payload = t[hl:]
	return v, true
}

// Residuals returns how far the IPv4 header checksum (0 for IPv6) and the
// TCP checksum of a packet View accepts are from right, in ones-complement
// arithmetic: 0 means right. A rewrite that updates checksums correctly
// keeps both residuals.
func Residuals(b []byte, v V) (ip, tcp uint16) {
	if v.Version == 4 {
		ip = residual(fold(sum(b[:int(b[0]&15)*4], 0)))
	}
	return ip, residual(fold(sum(b[v.TCPOff:v.IPLen], pseudoAt(b, v.TCPOff, v.IPLen))))
}

func residual(s uint16) uint16 {
	if s == 0xffff {
		return 0
	}
	return s
}

// pseudo is the pseudo-header sum of packet b whose TCP header starts at
// ipLen and which ends at len(b).
func pseudo(b []byte, ipLen int) uint64 { return pseudoAt(b, ipLen, len(b)) }

func pseudoAt(b []byte, tcpOff, end int) uint64 {
	s := uint64(6 + end - tcpOff)
	if b[0]>>4 == 4 {
		return sum(b[12:20], s)
	}
	return sum(b[8:40], s)
}

// sum adds the big-endian 16-bit words of b to acc (an odd last byte is
// padded with zero).
func sum(b []byte, acc uint64) uint64 {
	for i := 0; i+1 < len(b); i += 2 {
		acc += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		acc += uint64(b[len(b)-1]) << 8
	}
	return acc
}

func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
