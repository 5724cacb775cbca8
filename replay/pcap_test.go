package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// gopacketFrames reads a capture with gopacket (an independent reader,
// used by the tests only): every packet's IP layer, as Read should find it.
func gopacketFrames(t *testing.T, path string) []Frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var link layers.LinkType
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("gopacket: %s: %v", path, err)
		}
		src, link = ng, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			t.Fatalf("gopacket: %s: %v", path, err)
		}
		src, link = pr, pr.LinkType()
	}
	var frames []Frame
	for i := 1; ; i++ {
		data, ci, err := src.ReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) || (len(frames) > 0 && errors.Is(err, io.ErrUnexpectedEOF)) {
				return frames
			}
			t.Fatalf("gopacket: %s: frame %d: %v", path, i, err)
		}
		var first gopacket.Decoder = link
		if len(data) > 0 && (link == layers.LinkTypeRaw || link == 12 || link == 14) {
			first = layers.LayerTypeIPv4
			if data[0]>>4 == 6 {
				first = layers.LayerTypeIPv6
			}
		}
		pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		var ip []byte
		switch l := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			ip = append(append([]byte(nil), l.Contents...), l.Payload...)
			if len(ip) == 0 || ip[0]>>4 != 4 {
				// gopacket decodes by EtherType alone; Read, like the
				// kernel's ip_rcv, also wants the header's version
				// (a bit-mutated capture of the corpus has such frames).
				ip = nil
			}
		case *layers.IPv6:
			ip = append(append([]byte(nil), l.Contents...), l.Payload...)
			if l.HopByHop != nil {
				// gopacket leaves the hop-by-hop header out of both
				// Contents and Payload; Read keeps the packet whole.
				ip = nil
			}
		}
		if ip != nil {
			frames = append(frames, Frame{Index: i, Time: ci.Timestamp, Data: ip})
		}
	}
}

// Every capture of the corpus reads the same with Read as with gopacket:
// the same frames, numbers, times and IP bytes.
func TestReadMatchesGopacket(t *testing.T) {
	dir, err := corpusDir()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		t.Fatalf("no captures in %s", dir)
	}
	var total int
	for _, path := range files {
		name := filepath.Base(path)
		got, err := ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := gopacketFrames(t, path)
		// Frames gopacket cannot give whole (IPv6 hop-by-hop) are
		// compared only for being there.
		gi := 0
		for _, w := range want {
			for gi < len(got) && got[gi].Index < w.Index {
				if !hopByHop(got[gi].Data) {
					t.Errorf("%s: frame %d read, gopacket finds no IP packet in it", name, got[gi].Index)
				}
				gi++
			}
			if gi == len(got) || got[gi].Index != w.Index {
				t.Errorf("%s: frame %d: gopacket finds an IP packet, Read none", name, w.Index)
				continue
			}
			g := got[gi]
			gi++
			if !g.Time.Equal(w.Time) {
				t.Errorf("%s: frame %d: time %v, gopacket %v", name, w.Index, g.Time, w.Time)
			}
			if !bytes.Equal(g.Data, w.Data) {
				t.Errorf("%s: frame %d: %d IP bytes differ from gopacket's %d\n got %x\nwant %x", name, w.Index, len(g.Data), len(w.Data), g.Data, w.Data)
			}
		}
		for ; gi < len(got); gi++ {
			if !hopByHop(got[gi].Data) {
				t.Errorf("%s: frame %d read, gopacket finds no IP packet in it", name, got[gi].Index)
			}
		}
		total += len(got)
	}
	t.Logf("%d captures, %d IP frames", len(files), total)
}

func hopByHop(ip []byte) bool { return len(ip) >= 40 && ip[0]>>4 == 6 && ip[6] == 0 }

// Test captures are built here, byte by byte.

var (
	ipv4Pkt = func() []byte { // 20-byte header + 4 bytes, total length 24
		b := make([]byte, 24)
		b[0], b[3] = 0x45, 24
		b[9] = 6
		copy(b[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
		copy(b[20:], "abcd")
		return b
	}()
	ipv6Pkt = func() []byte { // 40-byte header + 3 bytes
		b := make([]byte, 43)
		b[0], b[5], b[6] = 0x60, 3, 6
		copy(b[40:], "xyz")
		return b
	}()
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func u16(o binary.AppendByteOrder, v uint16) []byte { return o.AppendUint16(nil, v) }
func u32(o binary.AppendByteOrder, v uint32) []byte { return o.AppendUint32(nil, v) }

// pcapFile is a classic pcap file with one record per frame, timestamps
// 1 s and 1.5 s after the epoch (µs or ns as magic says).
func pcapFile(o ord, magic uint32, link uint32, frames ...[]byte) []byte {
	b := cat(u32(o, magic), u16(o, 2), u16(o, 4), u32(o, 0), u32(o, 0), u32(o, 65535), u32(o, link))
	for i, f := range frames {
		frac := uint32(0)
		if i%2 == 1 {
			frac = 500000
			if magic == 0xa1b23c4d {
				frac = 500000000
			}
		}
		b = cat(b, u32(o, uint32(1+i/2)), u32(o, frac), u32(o, uint32(len(f))), u32(o, uint32(len(f))), f)
	}
	return b
}

func ngBlock(o ord, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(len(body) + 12)
	return cat(u32(o, typ), u32(o, n), body, u32(o, n))
}

func ngSection(o ord) []byte {
	return ngBlock(o, ngSHB, cat(u32(o, 0x1a2b3c4d), u16(o, 1), u16(o, 0), o.AppendUint64(nil, ^uint64(0))))
}

func ngIfaceBlock(o ord, link uint16, opts ...[]byte) []byte {
	body := cat(u16(o, link), u16(o, 0), u32(o, 0))
	for _, opt := range opts {
		body = cat(body, opt)
	}
	return ngBlock(o, ngIDB, cat(body, u32(o, 0)))
}

func ngOpt(o ord, code uint16, val []byte) []byte {
	b := cat(u16(o, code), u16(o, uint16(len(val))), val)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ngEnhanced(o ord, iface uint32, ts uint64, f []byte) []byte {
	return ngBlock(o, ngEPB, cat(u32(o, iface), u32(o, uint32(ts>>32)), u32(o, uint32(ts)), u32(o, uint32(len(f))), u32(o, uint32(len(f))), f))
}

var (
	le, be ord = binary.LittleEndian, binary.BigEndian
	mac12      = make([]byte, 12)
)

func TestRead(t *testing.T) {
	eth := func(typ uint16, p []byte) []byte { return cat(mac12, u16(be, typ), p) }
	padded := cat(eth(etherIPv4, ipv4Pkt), make([]byte, 18)) // padded to the Ethernet minimum
	sll := cat(make([]byte, 14), u16(be, etherIPv6), ipv6Pkt)
	sll2 := cat(u16(be, etherIPv4), make([]byte, 18), ipv4Pkt)
	t1, t15 := time.Unix(1, 0), time.Unix(1, 500000000)
	type want struct {
		index int
		time  time.Time
		data  []byte
	}
	tests := []struct {
		name string
		file []byte
		want []want
	}{
		{"pcap LE µs Ethernet, padding cut", pcapFile(le, 0xa1b2c3d4, linkEthernet, padded, eth(etherIPv6, ipv6Pkt)),
			[]want{{1, t1, ipv4Pkt}, {2, t15, ipv6Pkt}}},
		{"pcap LE ns", pcapFile(le, 0xa1b23c4d, linkRaw, ipv6Pkt, ipv4Pkt), []want{{1, t1, ipv6Pkt}, {2, t15, ipv4Pkt}}},
		{"pcap BE µs", pcapFile(be, 0xa1b2c3d4, linkRaw, ipv6Pkt, ipv4Pkt), []want{{1, t1, ipv6Pkt}, {2, t15, ipv4Pkt}}},
		{"pcap BE ns", pcapFile(be, 0xa1b23c4d, linkEthernet, eth(0x0806, make([]byte, 28)), eth(etherIPv4, ipv4Pkt)),
			[]want{{2, t15, ipv4Pkt}}}, // ARP keeps its frame number
		{"802.1Q and 802.1ad tags", pcapFile(le, 0xa1b2c3d4, linkEthernet,
			cat(mac12, u16(be, etherQinQ), []byte{0, 1}, u16(be, etherVLAN), []byte{0, 2}, u16(be, etherIPv4), ipv4Pkt)),
			[]want{{1, t1, ipv4Pkt}}},
		{"PPPoE session", pcapFile(le, 0xa1b2c3d4, linkEthernet,
			eth(etherPPPoES, cat([]byte{0x11, 0, 0, 1}, u16(be, uint16(len(ipv6Pkt)+2)), u16(be, pppIPv6), ipv6Pkt))),
			[]want{{1, t1, ipv6Pkt}}},
		{"802.3 with SNAP", pcapFile(le, 0xa1b2c3d4, linkEthernet,
			cat(mac12, u16(be, uint16(len(ipv4Pkt)+8)), []byte{0xaa, 0xaa, 3, 0, 0, 0}, u16(be, etherIPv4), ipv4Pkt)),
			[]want{{1, t1, ipv4Pkt}}},
		{"Linux cooked v1", pcapFile(le, 0xa1b2c3d4, linkLinuxSLL, sll),
			[]want{{1, t1, ipv6Pkt}}},
		{"Linux cooked v2", pcapFile(le, 0xa1b2c3d4, linkLinuxSLL2, sll2), []want{{1, t1, ipv4Pkt}}},
		{"raw IP by version", pcapFile(le, 0xa1b2c3d4, linkRaw, ipv6Pkt, ipv4Pkt, []byte{0x50, 1, 2}),
			[]want{{1, t1, ipv6Pkt}, {2, t15, ipv4Pkt}}},
		{"BSD null, little-endian AF", pcapFile(le, 0xa1b2c3d4, linkNull, cat(u32(le, 2), ipv4Pkt), cat(u32(le, 30), ipv6Pkt)),
			[]want{{1, t1, ipv4Pkt}, {2, t15, ipv6Pkt}}},
		{"OpenBSD loop, big-endian AF", pcapFile(le, 0xa1b2c3d4, linkLoop, cat(u32(be, 24), ipv6Pkt)), []want{{1, t1, ipv6Pkt}}},
		{"PPP", pcapFile(le, 0xa1b2c3d4, linkPPP, cat([]byte{0xff, 3}, u16(be, pppIPv4), ipv4Pkt)),
			[]want{{1, t1, ipv4Pkt}}},
		{"Cisco HDLC", pcapFile(le, 0xa1b2c3d4, linkCHDLC, cat([]byte{0x0f, 0}, u16(be, etherIPv6), ipv6Pkt)), []want{{1, t1, ipv6Pkt}}},
		{"IPv4 link type rejects IPv6", pcapFile(le, 0xa1b2c3d4, linkIPv4, ipv6Pkt, ipv4Pkt), []want{{2, t15, ipv4Pkt}}},
		{"IPv4 total length 0 (TSO) is the rest", pcapFile(le, 0xa1b2c3d4, linkRaw, func() []byte {
			b := append([]byte(nil), ipv4Pkt...)
			b[2], b[3] = 0, 0
			return b
		}()), []want{{1, t1, func() []byte { b := append([]byte(nil), ipv4Pkt...); b[2], b[3] = 0, 0; return b }()}}},
		{"truncated IPv4 kept as far as captured", pcapFile(le, 0xa1b2c3d4, linkRaw, ipv4Pkt[:22]), []want{{1, t1, ipv4Pkt[:22]}}},
		{"bad IPv4 headers skipped", pcapFile(le, 0xa1b2c3d4, linkRaw,
			[]byte{0x44, 0, 0, 24, 0, 0, 0, 0, 0, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4}, // IHL 4
			func() []byte { b := append([]byte(nil), ipv4Pkt...); b[3] = 16; return b }(),      // total < header
			ipv6Pkt[:39]),
			nil},
		{"truncated last record", pcapFile(le, 0xa1b2c3d4, linkRaw, ipv4Pkt, ipv6Pkt)[:24+16+24+20], []want{{1, t1, ipv4Pkt}}},
		{"pcapng LE, two sections, tsresol and tsoffset", cat(
			ngSection(le),
			ngIfaceBlock(le, linkEthernet),
			ngBlock(le, 5, make([]byte, 8)), // interface statistics: no packet
			ngEnhanced(le, 0, 1_500_000, eth(etherIPv4, ipv4Pkt)),
			ngSection(be),
			ngIfaceBlock(be, linkRaw, ngOpt(be, 9, []byte{9}), ngOpt(be, 14, be.AppendUint64(nil, 10))),
			ngIfaceBlock(be, linkEthernet, ngOpt(be, 9, []byte{0x80 | 10})),
			ngEnhanced(be, 0, 2_250_000_000, ipv6Pkt),
			ngEnhanced(be, 1, 3<<10|512, eth(etherIPv4, ipv4Pkt)),
			ngBlock(be, ngSPB, cat(u32(be, uint32(len(ipv6Pkt))), ipv6Pkt)),
			// An obsolete packet block: 16-bit interface ID and drops count.
			ngBlock(be, ngPB, cat(u16(be, 1), u16(be, 0), u32(be, 0), u32(be, 4<<10), u32(be, uint32(len(ipv4Pkt)+14)), u32(be, uint32(len(ipv4Pkt)+14)), mac12, u16(be, etherIPv4), ipv4Pkt)),
		), []want{{1, t15, ipv4Pkt}, {2, time.Unix(12, 250000000), ipv6Pkt}, {3, time.Unix(3, 500000000), ipv4Pkt}, {4, time.Unix(3, 500000000), ipv6Pkt}, {5, time.Unix(4, 0), ipv4Pkt}}}, // a simple block has no time: the previous packet's
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d frames, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				wt := w.time
				if g.Index != w.index || !g.Time.Equal(wt) || !bytes.Equal(g.Data, w.data) {
					t.Errorf("frame %d: got #%d %v %x, want #%d %v %x", i, g.Index, g.Time, g.Data, w.index, wt, w.data)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	good := pcapFile(le, 0xa1b2c3d4, linkRaw, ipv4Pkt)
	// A record one byte over the limit, all there: refused, not read.
	huge := pcapFile(le, 0xa1b2c3d4, linkRaw, make([]byte, maxRecord+1))
	tests := []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"unknown magic", cat([]byte("GIF8"), good[4:])},
		{"short file header", good[:20]},
		{"pcap version 1", func() []byte { b := append([]byte(nil), good...); b[4] = 1; return b }()},
		{"record over the size limit", huge},
		{"truncated first record", good[:24+16+3]},
		{"pcapng bad byte-order magic", cat(u32(le, ngSHB), u32(le, 28), u32(le, 0x11223344), make([]byte, 12), u32(le, 28))},
		{"pcapng trailing length differs", func() []byte {
			b := cat(ngSection(le), ngIfaceBlock(le, linkRaw))
			b[len(b)-1] = 0x55
			return b
		}()},
		{"pcapng block length not a multiple of 4", cat(ngSection(le), u32(le, ngIDB), u32(le, 13), make([]byte, 5))},
		{"pcapng packet of an undescribed interface", cat(ngSection(le), ngIfaceBlock(le, linkRaw), ngEnhanced(le, 1, 0, ipv4Pkt))},
		{"pcapng captured length past the block", func() []byte {
			b := cat(ngSection(le), ngIfaceBlock(le, linkRaw), ngEnhanced(le, 0, 0, ipv4Pkt))
			n := len(ngSection(le)) + len(ngIfaceBlock(le, linkRaw))
			binary.LittleEndian.PutUint32(b[n+8+12:], 1000)
			return b
		}()},
		{"pcapng option overruns", cat(ngSection(le), ngBlock(le, ngIDB, cat(u16(le, linkRaw), u16(le, 0), u32(le, 0), u16(le, 9), u16(le, 200))))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frames, err := Read(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatalf("Read accepted it: %d frames", len(frames))
			}
			t.Logf("%v", err)
		})
	}
}

// FuzzRead: any byte stream is read without a panic, and every frame is
// an IP packet as its header describes it, in frame order.
func FuzzRead(f *testing.F) {
	eth := cat(mac12, u16(be, etherIPv4), ipv4Pkt)
	f.Add(pcapFile(le, 0xa1b2c3d4, linkEthernet, eth, eth))
	f.Add(pcapFile(be, 0xa1b23c4d, linkLinuxSLL2, cat(u16(be, etherIPv6), make([]byte, 18), ipv6Pkt)))
	f.Add(cat(ngSection(le), ngIfaceBlock(le, linkEthernet, ngOpt(le, 9, []byte{9})), ngEnhanced(le, 0, 7, eth),
		ngBlock(le, ngSPB, cat(u32(le, uint32(len(eth))), eth))))
	f.Add(cat(ngSection(be), ngIfaceBlock(be, linkRaw), ngEnhanced(be, 0, 7, ipv6Pkt)))
	f.Fuzz(func(t *testing.T, file []byte) {
		frames, _ := Read(bytes.NewReader(file))
		last := 0
		for _, fr := range frames {
			if fr.Index <= last {
				t.Fatalf("frame %d after %d", fr.Index, last)
			}
			last = fr.Index
			if trimmed := trimIP(fr.Data); !bytes.Equal(trimmed, fr.Data) {
				t.Fatalf("frame %d: %x is not a whole IP packet (%x)", fr.Index, fr.Data, trimmed)
			}
		}
	})
}

type ord interface {
	binary.ByteOrder
	binary.AppendByteOrder
}
