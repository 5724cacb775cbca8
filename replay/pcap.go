package replay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Frame is one captured IP packet: Data starts at the IP header.
type Frame struct {
	Index int // 1-based frame number in the file (every packet counts, IP or not)
	Time  time.Time
	Data  []byte
}

// maxRecord bounds the bytes of one captured packet (and of one pcapng
// block): a record claiming more is an error, not an allocation. 256 KiB
// is libpcap's own largest snapshot length.
const maxRecord = 256 << 10

// ReadFile reads every IPv4 and IPv6 packet of a pcap or pcapng file.
// Frames that carry no IP packet are skipped.
func ReadFile(path string) ([]Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	frames, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("replay: %s: %w", path, err)
	}
	return frames, nil
}

// record is one captured packet as a capture file stores it.
type record struct {
	link uint16 // LINKTYPE_* of the packet's interface
	time time.Time
	data []byte
}

// recordReader yields the packets of one capture file in order; io.EOF
// after the last.
type recordReader interface {
	next() (record, error)
}

// Read reads a pcap or pcapng stream: classic pcap in either byte order
// with microsecond or nanosecond timestamps, and pcapng with any number
// of sections and interfaces (enhanced, simple and obsolete packet
// blocks; if_tsresol and if_tsoffset honoured; a simple packet block,
// which has no timestamp, gets the previous packet's). Each packet's link layer
// (Ethernet with VLAN tags, PPPoE or SNAP; Linux cooked v1 and v2; BSD
// loopback; raw IP; PPP and Cisco HDLC) is removed and the IP packet is
// kept, cut to the length its header gives (Ethernet padding goes).
// Packets of other link types or protocols are skipped but keep their
// frame numbers. A truncated last record ends the stream without error;
// anything else malformed is an error that names the frame.
func Read(r io.Reader) ([]Frame, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading magic: %w", err)
	}
	var src recordReader
	if binary.LittleEndian.Uint32(magic) == ngSHB {
		src, err = newNgReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
	} else {
		src, err = newPcapReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap: %w", err)
		}
	}
	var frames []Frame
	for i := 1; ; i++ {
		rec, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(frames) > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
				break // a truncated last record
			}
			return frames, fmt.Errorf("frame %d: %w", i, err)
		}
		if ip := ipPacket(rec.data, rec.link); ip != nil {
			frames = append(frames, Frame{Index: i, Time: rec.time, Data: ip})
		}
	}
	return frames, nil
}

// readFull reads len(b) bytes; io.EOF only if there were none at all.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	return err
}

// pcapReader reads classic pcap (the libpcap file format).
type pcapReader struct {
	r     io.Reader
	order binary.ByteOrder
	nanos bool   // timestamps in nanoseconds, not microseconds
	link  uint16 // LINKTYPE_* of every packet
	hdr   [16]byte
}

func newPcapReader(r io.Reader) (*pcapReader, error) {
	var h [24]byte
	if err := readFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("file header: %w", noEOF(err))
	}
	p := &pcapReader{r: r}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
		p.order = binary.LittleEndian
	case 0xa1b23c4d:
		p.order, p.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0x4d3cb2a1:
		p.order, p.nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("not a capture file: magic %x", h[:4])
	}
	if major := p.order.Uint16(h[4:6]); major != 2 {
		return nil, fmt.Errorf("version %d.%d, want 2.x", major, p.order.Uint16(h[6:8]))
	}
	// The link type's upper bits say whether frames end with an FCS.
	p.link = uint16(p.order.Uint32(h[20:24]))
	return p, nil
}

func (p *pcapReader) next() (record, error) {
	if err := readFull(p.r, p.hdr[:]); err != nil {
		return record{}, err
	}
	sec, frac := p.order.Uint32(p.hdr[0:4]), p.order.Uint32(p.hdr[4:8])
	capLen := p.order.Uint32(p.hdr[8:12])
	if capLen > maxRecord {
		return record{}, fmt.Errorf("captured length %d over %d", capLen, maxRecord)
	}
	data := make([]byte, capLen)
	if err := readFull(p.r, data); err != nil {
		return record{}, noEOF(err)
	}
	ns := int64(frac)
	if !p.nanos {
		ns *= 1000
	}
	return record{link: p.link, time: time.Unix(int64(sec), ns), data: data}, nil
}

// pcapng block types.
const (
	ngSHB = 0x0a0d0d0a // section header
	ngIDB = 1          // interface description
	ngPB  = 2          // packet (obsolete)
	ngSPB = 3          // simple packet
	ngEPB = 6          // enhanced packet
)

// ngIface is what a section says about one of its interfaces.
type ngIface struct {
	link    uint16
	snapLen uint32
	// A timestamp counts units of 10^-exp s (binary false) or 2^-exp s.
	exp    uint8
	binary bool
	offset int64 // if_tsoffset, seconds
}

// ngReader reads pcapng: a sequence of sections, each a section header
// followed by interface descriptions and packets.
type ngReader struct {
	r      io.Reader
	order  binary.ByteOrder
	ifaces []ngIface // of the current section
	last   time.Time // of the last packet: a simple packet block has none of its own
}

func newNgReader(r io.Reader) (*ngReader, error) {
	n := &ngReader{r: r}
	typ, body, err := n.block()
	if err != nil {
		return nil, noEOF(err)
	}
	if typ != ngSHB {
		return nil, fmt.Errorf("first block is type %#x, not a section header", typ)
	}
	return n, n.section(body)
}

// block reads one block: its type and body (without the type and the two
// lengths). A section header sets the byte order first.
func (n *ngReader) block() (uint32, []byte, error) {
	var h [12]byte
	if err := readFull(n.r, h[:8]); err != nil {
		return 0, nil, err
	}
	typ := binary.LittleEndian.Uint32(h[0:4]) // the section header's type reads the same either way
	if typ == ngSHB {
		if err := readFull(n.r, h[8:12]); err != nil {
			return 0, nil, noEOF(err)
		}
		switch binary.LittleEndian.Uint32(h[8:12]) {
		case 0x1a2b3c4d:
			n.order = binary.LittleEndian
		case 0x4d3c2b1a:
			n.order = binary.BigEndian
		default:
			return 0, nil, fmt.Errorf("section header byte-order magic %x", h[8:12])
		}
	} else if n.order == nil {
		return 0, nil, errors.New("block before any section header")
	} else {
		typ = n.order.Uint32(h[0:4])
	}
	total := n.order.Uint32(h[4:8])
	if total < 12 || total%4 != 0 || total > maxRecord+64 {
		return 0, nil, fmt.Errorf("block type %#x: total length %d (want a multiple of 4, 12 to %d)", typ, total, maxRecord+64)
	}
	rest := make([]byte, total-8) // body and the trailing length
	copy(rest, h[8:])
	have := 0
	if typ == ngSHB {
		have = 4
		if total < 28 {
			return 0, nil, fmt.Errorf("section header of %d bytes", total)
		}
	}
	if err := readFull(n.r, rest[have:]); err != nil {
		return 0, nil, noEOF(err)
	}
	if trail := n.order.Uint32(rest[len(rest)-4:]); trail != total {
		return 0, nil, fmt.Errorf("block type %#x: trailing length %d, leading %d", typ, trail, total)
	}
	return typ, rest[:len(rest)-4], nil
}

// section starts a new section: its interfaces are numbered afresh.
func (n *ngReader) section(body []byte) error {
	if major := n.order.Uint16(body[4:6]); major != 1 {
		return fmt.Errorf("section version %d.%d, want 1.x", major, n.order.Uint16(body[6:8]))
	}
	n.ifaces = n.ifaces[:0]
	return nil
}

func (n *ngReader) next() (record, error) {
	for {
		typ, body, err := n.block()
		if err != nil {
			return record{}, err
		}
		switch typ {
		case ngSHB:
			if err := n.section(body); err != nil {
				return record{}, err
			}
		case ngIDB:
			if err := n.iface(body); err != nil {
				return record{}, err
			}
		case ngEPB, ngPB:
			return n.packet(typ, body)
		case ngSPB:
			if len(body) < 4 {
				return record{}, fmt.Errorf("simple packet block of %d bytes", len(body))
			}
			if len(n.ifaces) == 0 {
				return record{}, errors.New("simple packet block without an interface")
			}
			data := body[4:]
			if orig := n.order.Uint32(body[0:4]); uint64(orig) < uint64(len(data)) {
				data = data[:orig] // the rest is padding
			}
			if snap := n.ifaces[0].snapLen; snap != 0 && uint64(snap) < uint64(len(data)) {
				data = data[:snap]
			}
			return record{link: n.ifaces[0].link, time: n.last, data: data}, nil
		}
		// Other blocks (statistics, name resolution, custom, ...) carry
		// no packet.
	}
}

// iface reads an interface description block.
func (n *ngReader) iface(body []byte) error {
	if len(body) < 8 {
		return fmt.Errorf("interface description of %d bytes", len(body))
	}
	ifc := ngIface{link: n.order.Uint16(body[0:2]), snapLen: n.order.Uint32(body[4:8]), exp: 6}
	opts := body[8:]
	for len(opts) >= 4 {
		code, l := n.order.Uint16(opts[0:2]), int(n.order.Uint16(opts[2:4]))
		if code == 0 { // opt_endofopt
			break
		}
		padded := 4 + (l+3)&^3
		if padded > len(opts) {
			return fmt.Errorf("interface %d: option %d of %d bytes overruns the block", len(n.ifaces), code, l)
		}
		val := opts[4 : 4+l]
		switch {
		case code == 9 && l == 1: // if_tsresol
			ifc.exp, ifc.binary = val[0]&0x7f, val[0]&0x80 != 0
			if (!ifc.binary && ifc.exp > 19) || (ifc.binary && ifc.exp > 63) {
				return fmt.Errorf("interface %d: if_tsresol %#x out of range", len(n.ifaces), val[0])
			}
		case code == 14 && l == 8: // if_tsoffset
			ifc.offset = int64(n.order.Uint64(val))
		}
		opts = opts[padded:]
	}
	n.ifaces = append(n.ifaces, ifc)
	return nil
}

// packet reads an enhanced (or obsolete) packet block.
func (n *ngReader) packet(typ uint32, body []byte) (record, error) {
	if len(body) < 20 {
		return record{}, fmt.Errorf("packet block of %d bytes", len(body))
	}
	var id int
	if typ == ngEPB {
		id = int(n.order.Uint32(body[0:4]))
	} else {
		id = int(n.order.Uint16(body[0:2]))
	}
	if id < 0 || id >= len(n.ifaces) {
		return record{}, fmt.Errorf("packet of interface %d; the section describes %d", id, len(n.ifaces))
	}
	ifc := n.ifaces[id]
	ts := uint64(n.order.Uint32(body[4:8]))<<32 | uint64(n.order.Uint32(body[8:12]))
	capLen := n.order.Uint32(body[12:16])
	if uint64(capLen) > uint64(len(body)-20) {
		return record{}, fmt.Errorf("captured length %d over the block's %d bytes", capLen, len(body)-20)
	}
	n.last = ifc.time(ts)
	return record{link: ifc.link, time: n.last, data: body[20 : 20+capLen]}, nil
}

// time turns a timestamp in the interface's units into a time.
func (ifc ngIface) time(ts uint64) time.Time {
	var sec, ns uint64
	if ifc.binary {
		sec = ts >> ifc.exp
		frac := ts & (1<<ifc.exp - 1)
		// frac < 2^exp: scale to nanoseconds without overflowing 64 bits.
		if ifc.exp <= 34 {
			ns = frac * 1e9 >> ifc.exp
		} else {
			ns = (frac >> (ifc.exp - 34)) * 1e9 >> 34
		}
	} else {
		unit := uint64(1)
		for range ifc.exp {
			unit *= 10
		}
		sec, ns = ts/unit, ts%unit
		switch {
		case ifc.exp < 9:
			for range 9 - ifc.exp {
				ns *= 10
			}
		case ifc.exp > 9:
			for range ifc.exp - 9 {
				ns /= 10
			}
		}
	}
	return time.Unix(int64(sec)+ifc.offset, int64(ns))
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: for reads that had begun.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
