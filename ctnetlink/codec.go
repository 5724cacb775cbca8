package ctnetlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/mdlayher/netlink"
)

// Attribute types from nfnetlink_conntrack.h.
const (
	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaStatus     = 3
	ctaProtoInfo  = 4
	ctaHelp       = 5
	ctaMark       = 8
	ctaID         = 12
	ctaMarkMask   = 21

	ctaTupleIP    = 1
	ctaTupleProto = 2

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum     = 1
	ctaProtoSrcPort = 2
	ctaProtoDstPort = 3

	ctaProtoInfoTCP = 1

	ctaProtoInfoTCPState = 1

	ctaProtoInfoTCPFlagsOrig  = 4
	ctaProtoInfoTCPFlagsReply = 5

	ctaHelpName = 1
)

// Message types (low byte of the netlink type) and the subsystem.
const (
	subsysCT    = 1
	msgCTNew    = 0
	msgCTGet    = 1
	msgCTDelete = 2
)

const (
	protoTCP = 6
	// tcpFlagBeLiberal is IP_CT_TCP_FLAG_BE_LIBERAL.
	tcpFlagBeLiberal = 0x08
)

// Info is what ftpalg reads from one conntrack entry.
type Info struct {
	Proto  uint8
	Orig   conntrack.Tuple
	Reply  conntrack.Tuple
	Mark   uint32
	Helper string // name of the attached conntrack helper, if any
	// TCPFlags are the conntrack TCP flags (IP_CT_TCP_FLAG_*) of the
	// original and reply directions, when the message carries them.
	TCPFlags [2]uint8
	// TCPState is conntrack's TCP state (TCP_CONNTRACK_*), when the
	// message carries it.
	TCPState uint8
}

// Conntrack TCP states (enum tcp_conntrack) that mean the connection was
// closed.
const (
	TCPStateTimeWait = 7
	TCPStateClose    = 8
)

// Closed reports whether the entry's TCP connection had closed (TIME_WAIT
// or CLOSE) when the message was sent.
func (i Info) Closed() bool { return i.TCPState == TCPStateTimeWait || i.TCPState == TCPStateClose }

// Liberal reports whether both directions are marked BE_LIBERAL.
func (i Info) Liberal() bool {
	return i.TCPFlags[0]&tcpFlagBeLiberal != 0 && i.TCPFlags[1]&tcpFlagBeLiberal != 0
}

// Tuples returns the entry's tuples in the inspector's terms.
func (i Info) Tuples() conntrack.Tuples {
	return conntrack.Tuples{Orig: i.Orig, Reply: i.Reply}
}

// Flow is the inspector's key for the connection: as the filter hooks see
// it (after DNAT, before SNAT), the client is the original source and the
// server the reply source.
func (i Info) Flow() conntrack.Flow {
	return conntrack.Flow{Client: i.Orig.Src, Server: i.Reply.Src}
}

var errTruncated = errors.New("ctnetlink: message too short for nfgenmsg")

// DecodeInfo decodes the attributes of a ctnetlink conntrack message (the
// bytes after the 4-byte nfgenmsg header), or the NFQA_CT block of a
// queued packet. Attributes ftpalg does not need are skipped.
func DecodeInfo(b []byte) (Info, error) {
	var info Info
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return info, fmt.Errorf("ctnetlink: attributes: %w", err)
	}
	ad.ByteOrder = binary.BigEndian
	var haveOrig, haveReply bool
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleOrig:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				return decodeTuple(nad, &info.Orig, &info.Proto)
			})
			haveOrig = true
		case ctaTupleReply:
			var proto uint8
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				return decodeTuple(nad, &info.Reply, &proto)
			})
			haveReply = true
		case ctaMark:
			if len(ad.Bytes()) == 4 {
				info.Mark = ad.Uint32()
			}
		case ctaProtoInfo:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() != ctaProtoInfoTCP {
						continue
					}
					nad.Nested(func(tad *netlink.AttributeDecoder) error {
						for tad.Next() {
							b := tad.Bytes()
							switch {
							case tad.Type() == ctaProtoInfoTCPState && len(b) == 1:
								info.TCPState = b[0]
							case len(b) != 2:
							case tad.Type() == ctaProtoInfoTCPFlagsOrig:
								info.TCPFlags[0] = b[0]
							case tad.Type() == ctaProtoInfoTCPFlagsReply:
								info.TCPFlags[1] = b[0]
							}
						}
						return nil
					})
				}
				return nil
			})
		case ctaHelp:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == ctaHelpName {
						info.Helper = nad.String()
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return info, fmt.Errorf("ctnetlink: attributes: %w", err)
	}
	if !haveOrig || !haveReply {
		return info, errors.New("ctnetlink: entry lacks a tuple")
	}
	return info, nil
}

func decodeTuple(ad *netlink.AttributeDecoder, t *conntrack.Tuple, proto *uint8) error {
	var src, dst netip.Addr
	var sport, dport uint16
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleIP:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					a, ok := netip.AddrFromSlice(nad.Bytes())
					if !ok {
						return fmt.Errorf("ctnetlink: bad address length %d", len(nad.Bytes()))
					}
					switch nad.Type() {
					case ctaIPv4Src, ctaIPv6Src:
						src = a
					case ctaIPv4Dst, ctaIPv6Dst:
						dst = a
					}
				}
				return nil
			})
		case ctaTupleProto:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case ctaProtoNum:
						if len(nad.Bytes()) == 1 {
							*proto = nad.Uint8()
						}
					case ctaProtoSrcPort:
						if len(nad.Bytes()) == 2 {
							sport = nad.Uint16()
						}
					case ctaProtoDstPort:
						if len(nad.Bytes()) == 2 {
							dport = nad.Uint16()
						}
					}
				}
				return nil
			})
		}
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return errors.New("ctnetlink: tuple without a valid address pair")
	}
	t.Src = netip.AddrPortFrom(src, sport)
	t.Dst = netip.AddrPortFrom(dst, dport)
	return nil
}

// encodeTuple appends a TCP tuple nested under typ.
func encodeTuple(ae *netlink.AttributeEncoder, typ uint16, t conntrack.Tuple) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		nae.Nested(ctaTupleIP, func(iae *netlink.AttributeEncoder) error {
			s, d := t.Src.Addr(), t.Dst.Addr()
			if s.Is4() {
				iae.Bytes(ctaIPv4Src, s.AsSlice())
				iae.Bytes(ctaIPv4Dst, d.AsSlice())
			} else {
				iae.Bytes(ctaIPv6Src, s.AsSlice())
				iae.Bytes(ctaIPv6Dst, d.AsSlice())
			}
			return nil
		})
		nae.Nested(ctaTupleProto, func(pae *netlink.AttributeEncoder) error {
			pae.Uint8(ctaProtoNum, protoTCP)
			pae.Uint16(ctaProtoSrcPort, t.Src.Port())
			pae.Uint16(ctaProtoDstPort, t.Dst.Port())
			return nil
		})
		return nil
	})
}

// family is the nfgenmsg family of a tuple.
func family(t conntrack.Tuple) uint8 {
	if t.Src.Addr().Is4() {
		return 2 // AF_INET
	}
	return 10 // AF_INET6
}

// message builds a ctnetlink request: nfgenmsg plus attributes.
func message(typ uint8, fam uint8, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
	data := make([]byte, 4, 4+len(attrs))
	data[0] = fam // nfgen_family; version 0, res_id 0
	data = append(data, attrs...)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | uint16(typ)), Flags: flags},
		Data:   data,
	}
}

// getRequest asks for the entry whose original (reply=false) or reply
// tuple is t.
func getRequest(t conntrack.Tuple, reply bool) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	typ := uint16(ctaTupleOrig)
	if reply {
		typ = ctaTupleReply
	}
	encodeTuple(ae, typ, t)
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	return message(msgCTGet, family(t), netlink.Request|netlink.Acknowledge, b), nil
}

// liberalRequest updates the entry whose original tuple is orig: it sets
// BE_LIBERAL in both directions and changes nothing else (no state, no
// window scale: only the flag with its mask).
func liberalRequest(orig conntrack.Tuple) (netlink.Message, error) {
	return updateRequest(orig, 0)
}

// resizedRequest is liberalRequest that also sets the bits of mark in the
// entry's ct mark, leaving its other bits as they are (CTA_MARK with
// CTA_MARK_MASK: the kernel computes (old & ~mask) ^ mark). One message,
// so the kernel applies both or neither.
func resizedRequest(orig conntrack.Tuple, mark uint32) (netlink.Message, error) {
	if mark == 0 {
		return netlink.Message{}, errors.New("ctnetlink: resized mark 0")
	}
	return updateRequest(orig, mark)
}

func updateRequest(orig conntrack.Tuple, mark uint32) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	encodeTuple(ae, ctaTupleOrig, orig)
	ae.Nested(ctaProtoInfo, func(pae *netlink.AttributeEncoder) error {
		pae.Nested(ctaProtoInfoTCP, func(tae *netlink.AttributeEncoder) error {
			// struct nf_ct_tcp_flags { __u8 flags; __u8 mask; }
			tae.Bytes(ctaProtoInfoTCPFlagsOrig, []byte{tcpFlagBeLiberal, tcpFlagBeLiberal})
			tae.Bytes(ctaProtoInfoTCPFlagsReply, []byte{tcpFlagBeLiberal, tcpFlagBeLiberal})
			return nil
		})
		return nil
	})
	if mark != 0 {
		ae.Uint32(ctaMark, mark)
		ae.Uint32(ctaMarkMask, mark)
	}
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	return message(msgCTNew, family(orig), netlink.Request|netlink.Acknowledge, b), nil
}

// EventType is what happened to a conntrack entry.
type EventType uint8

const (
	EventNew EventType = iota + 1
	EventUpdate
	EventDestroy
)

func (e EventType) String() string {
	switch e {
	case EventNew:
		return "new"
	case EventUpdate:
		return "update"
	case EventDestroy:
		return "destroy"
	}
	return fmt.Sprintf("event(%d)", uint8(e))
}

// DecodeEvent decodes one ctnetlink event or dump message.
func DecodeEvent(m netlink.Message) (EventType, Info, error) {
	if uint16(m.Header.Type)>>8 != subsysCT {
		return 0, Info{}, fmt.Errorf("ctnetlink: message type %#x is not ctnetlink", uint16(m.Header.Type))
	}
	if len(m.Data) < 4 {
		return 0, Info{}, errTruncated
	}
	var typ EventType
	switch uint8(m.Header.Type) {
	case msgCTNew:
		typ = EventUpdate
		if m.Header.Flags&(netlink.Create|netlink.Excl) != 0 {
			typ = EventNew
		}
	case msgCTDelete:
		typ = EventDestroy
	default:
		return 0, Info{}, fmt.Errorf("ctnetlink: unexpected conntrack message %d", uint8(m.Header.Type))
	}
	info, err := DecodeInfo(m.Data[4:])
	return typ, info, err
}
