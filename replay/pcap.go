package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is one captured IP packet: Data starts at the IP header.
type Frame struct {
	Index int // 1-based frame number in the file
	Time  time.Time
	Data  []byte
}

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

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Read reads a pcap or pcapng stream.
func Read(r io.Reader) ([]Frame, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading magic: %w", err)
	}
	var src packetSource
	var link layers.LinkType
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		src, link = ng, ng.LinkType()
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap: %w", err)
		}
		src, link = pr, pr.LinkType()
	}
	var frames []Frame
	for i := 1; ; i++ {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(frames) > 0 && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
				break // a truncated last record
			}
			return frames, fmt.Errorf("frame %d: %w", i, err)
		}
		if ip := ipPacket(data, link); ip != nil {
			frames = append(frames, Frame{Index: i, Time: ci.Timestamp, Data: ip})
		}
	}
	return frames, nil
}

// ipPacket finds the IP packet in a link-layer frame and returns a copy.
func ipPacket(data []byte, link layers.LinkType) []byte {
	var first gopacket.Decoder = link
	switch link {
	case layers.LinkTypeRaw, 12, 14: // raw IP (DLT_RAW on some systems)
		first = ipByVersion(data)
	case 228:
		first = layers.LayerTypeIPv4
	case 229:
		first = layers.LayerTypeIPv6
	}
	if first == nil {
		return nil
	}
	pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	nl := pkt.NetworkLayer()
	switch l := nl.(type) {
	case *layers.IPv4:
		b := append(append([]byte(nil), l.Contents...), l.Payload...)
		return b
	case *layers.IPv6:
		return append(append([]byte(nil), l.Contents...), l.Payload...)
	}
	return nil
}

func ipByVersion(data []byte) gopacket.Decoder {
	if len(data) == 0 {
		return nil
	}
	switch data[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4
	case 6:
		return layers.LayerTypeIPv6
	}
	return nil
}
