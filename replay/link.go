package replay

import "encoding/binary"

// Link types (LINKTYPE_*, tcpdump.org/linktypes.html) that ipPacket
// understands.
const (
	linkNull      = 0   // BSD loopback: 4-byte address family, host order
	linkEthernet  = 1   // Ethernet II, 802.1Q/802.1ad tags, PPPoE, 802.3 with SNAP
	linkPPP       = 9   // PPP in HDLC-like framing (RFC 1662), address and control optional
	linkRawOld    = 12  // raw IP on some systems (DLT_RAW)
	linkRawOld2   = 14  // raw IP on others
	linkRaw       = 101 // raw IP, version from the first nibble
	linkCHDLC     = 104 // Cisco HDLC: address, control, EtherType
	linkLoop      = 108 // OpenBSD loopback: 4-byte address family, network order
	linkLinuxSLL  = 113 // Linux cooked capture v1
	linkIPv4      = 228
	linkIPv6      = 229
	linkLinuxSLL2 = 276 // Linux cooked capture v2
)

// EtherTypes and PPP protocol numbers.
const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100
	etherQinQ   = 0x88a8
	etherQinQ2  = 0x9100 // pre-standard double tagging
	etherPPPoES = 0x8864
	pppIPv4     = 0x0021
	pppIPv6     = 0x0057
)

// ipPacket finds the IP packet in a frame of the given link type: the
// bytes from the IP header to the end of the packet as its header gives
// it (trailing link-layer padding cut off; a packet the capture truncated
// is kept as far as it goes). nil if the frame carries no IPv4 or IPv6
// packet, or one whose header is not all there or is inconsistent.
func ipPacket(frame []byte, link uint16) []byte {
	var ip []byte
	switch link {
	case linkEthernet:
		ip = ethernet(frame)
	case linkLinuxSLL:
		if len(frame) >= 16 {
			ip = byEtherType(binary.BigEndian.Uint16(frame[14:16]), frame[16:])
		}
	case linkLinuxSLL2:
		if len(frame) >= 20 {
			ip = byEtherType(binary.BigEndian.Uint16(frame[0:2]), frame[20:])
		}
	case linkNull, linkLoop:
		if len(frame) >= 4 {
			af := binary.BigEndian.Uint32(frame[:4])
			if link == linkNull && af > 0xffff { // written in little-endian host order
				af = binary.LittleEndian.Uint32(frame[:4])
			}
			switch af {
			case 2: // AF_INET everywhere
				ip = onlyVersion(frame[4:], 4)
			case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, macOS
				ip = onlyVersion(frame[4:], 6)
			}
		}
	case linkRaw, linkRawOld, linkRawOld2:
		ip = frame
	case linkIPv4:
		ip = onlyVersion(frame, 4)
	case linkIPv6:
		ip = onlyVersion(frame, 6)
	case linkPPP:
		if len(frame) >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
			frame = frame[2:]
		}
		if len(frame) >= 2 {
			switch binary.BigEndian.Uint16(frame[:2]) {
			case pppIPv4:
				ip = onlyVersion(frame[2:], 4)
			case pppIPv6:
				ip = onlyVersion(frame[2:], 6)
			}
		}
	case linkCHDLC:
		if len(frame) >= 4 {
			ip = byEtherType(binary.BigEndian.Uint16(frame[2:4]), frame[4:])
		}
	}
	return trimIP(ip)
}

// ethernet strips an Ethernet header with any 802.1Q/802.1ad tags, a
// PPPoE session header, or an 802.2 LLC/SNAP header.
func ethernet(frame []byte) []byte {
	if len(frame) < 14 {
		return nil
	}
	typ, rest := binary.BigEndian.Uint16(frame[12:14]), frame[14:]
	for typ == etherVLAN || typ == etherQinQ || typ == etherQinQ2 {
		if len(rest) < 4 {
			return nil
		}
		typ, rest = binary.BigEndian.Uint16(rest[2:4]), rest[4:]
	}
	switch {
	case typ < 0x0600: // 802.3 length: IP only behind SNAP with OUI 0
		if len(rest) < 8 || rest[0] != 0xaa || rest[1] != 0xaa || rest[2] != 0x03 || rest[3]|rest[4]|rest[5] != 0 {
			return nil
		}
		return byEtherType(binary.BigEndian.Uint16(rest[6:8]), rest[8:])
	case typ == etherPPPoES:
		// version/type, code, session, length, then the PPP protocol.
		if len(rest) < 8 {
			return nil
		}
		switch binary.BigEndian.Uint16(rest[6:8]) {
		case pppIPv4:
			return onlyVersion(rest[8:], 4)
		case pppIPv6:
			return onlyVersion(rest[8:], 6)
		}
		return nil
	}
	return byEtherType(typ, rest)
}

func byEtherType(typ uint16, b []byte) []byte {
	switch typ {
	case etherIPv4:
		return onlyVersion(b, 4)
	case etherIPv6:
		return onlyVersion(b, 6)
	}
	return nil
}

// onlyVersion is b if it starts with an IP header of version v.
func onlyVersion(b []byte, v byte) []byte {
	if len(b) == 0 || b[0]>>4 != v {
		return nil
	}
	return b
}

// trimIP checks the IP header at the start of b and returns the packet
// cut to the length the header gives, copied (the frame's buffer is not
// kept). An IPv4 total length of 0 is taken as "the rest of the frame"
// (captures of TCP segmentation offload show it).
func trimIP(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return nil
		}
		hl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if total == 0 {
			total = len(b)
		}
		if hl < 20 || total < hl || len(b) < hl {
			return nil
		}
		b = b[:min(total, len(b))]
	case 6:
		if len(b) < 40 {
			return nil
		}
		// A payload length of 0 is a jumbogram (RFC 2675): the rest.
		if plen := int(binary.BigEndian.Uint16(b[4:6])); plen != 0 {
			b = b[:min(40+plen, len(b))]
		}
	default:
		return nil
	}
	return append([]byte(nil), b...)
}
