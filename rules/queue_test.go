//go:build linux

package rules

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A minimal NFQUEUE listener for tests, over nfnetlink_queue directly (the
// nfq package owns go-nfqueue; rules tests only need to see which queue a
// packet arrives on and let it pass). Constants from
// linux/netfilter/nfnetlink_queue.h.
const (
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2
	nfqaPayload    = 10

	nfqaCfgCmd    = 1
	nfqaCfgParams = 2

	nfqnlCfgCmdBind  = 1
	nfqnlCopyPacket  = 2
	nfAccept         = 1
	nfnetlinkVersion = 0
)

// queued is one packet seen on a queue.
type queued struct {
	queue    uint16
	src, dst netip.AddrPort
	flags    uint8 // TCP flags
	payload  int   // TCP payload length
}

type testQueue struct {
	mu   sync.Mutex
	seen []queued
}

// bindQueues listens on the given queue numbers in namespace n and
// accepts every packet, recording where it came from.
func bindQueues(t *testing.T, n *netns, nums ...uint16) *testQueue {
	t.Helper()
	q := &testQueue{}
	for _, num := range nums {
		c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: n.fd})
		if err != nil {
			t.Fatalf("nfqueue dial: %v", err)
		}
		cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0}
		params := binary.BigEndian.AppendUint32(nil, 0xffff)
		params = append(params, nfqnlCopyPacket)
		attrs, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: nfqaCfgCmd, Data: cmd}, {Type: nfqaCfgParams, Data: params}})
		if _, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: nfqType(nfqnlMsgConfig), Flags: netlink.Request | netlink.Acknowledge},
			Data:   append(nfgen(num), attrs...),
		}); err != nil {
			t.Fatalf("bind queue %d: %v", num, err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go q.serve(t, c, stop, done)
		t.Cleanup(func() {
			close(stop)
			c.SetReadDeadline(time.Now())
			<-done
			c.Close()
		})
	}
	return q
}

func nfqType(m int) netlink.HeaderType { return netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8 | m) }

// nfgen is struct nfgenmsg with res_id = queue number.
func nfgen(num uint16) []byte {
	return []byte{unix.AF_UNSPEC, nfnetlinkVersion, byte(num >> 8), byte(num)}
}

func (q *testQueue) serve(t *testing.T, c *netlink.Conn, stop, done chan struct{}) {
	defer close(done)
	for {
		msgs, err := c.Receive()
		select {
		case <-stop:
			return
		default:
		}
		if errors.Is(err, unix.ENOENT) {
			// A verdict for a packet the kernel no longer holds: it drops
			// queued packets when their hook goes (a table deleted).
			continue
		}
		if err != nil {
			t.Errorf("nfqueue receive: %v", err)
			return
		}
		for _, m := range msgs {
			if m.Header.Type != nfqType(nfqnlMsgPacket) || len(m.Data) < 4 {
				continue
			}
			num := binary.BigEndian.Uint16(m.Data[2:4])
			ad, err := netlink.NewAttributeDecoder(m.Data[4:])
			if err != nil {
				t.Errorf("nfqueue attributes: %v", err)
				return
			}
			var id uint32
			var payload []byte
			for ad.Next() {
				switch ad.Type() {
				case nfqaPacketHdr:
					id = binary.BigEndian.Uint32(ad.Bytes()[:4])
				case nfqaPayload:
					payload = ad.Bytes()
				}
			}
			if src, dst, flags, n, ok := tcpEnds(payload); ok {
				q.mu.Lock()
				q.seen = append(q.seen, queued{queue: num, src: src, dst: dst, flags: flags, payload: n})
				q.mu.Unlock()
			}
			v, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: nfqaVerdictHdr,
				Data: binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, nfAccept), id)}})
			if _, err := c.Send(netlink.Message{
				Header: netlink.Header{Type: nfqType(nfqnlMsgVerdict), Flags: netlink.Request},
				Data:   append(nfgen(num), v...),
			}); err != nil {
				t.Errorf("nfqueue verdict: %v", err)
				return
			}
		}
	}
}

// tcpEnds reads the TCP endpoints, flags and payload length of an IPv4
// or IPv6 packet (no IPv6 extension headers).
func tcpEnds(p []byte) (src, dst netip.AddrPort, flags uint8, payload int, ok bool) {
	if len(p) < 1 {
		return
	}
	var s, d netip.Addr
	var th []byte
	switch p[0] >> 4 {
	case 4:
		ihl := int(p[0]&15) * 4
		if len(p) < ihl+20 || p[9] != unix.IPPROTO_TCP {
			return
		}
		s, _ = netip.AddrFromSlice(p[12:16])
		d, _ = netip.AddrFromSlice(p[16:20])
		th = p[ihl:min(len(p), int(binary.BigEndian.Uint16(p[2:4])))]
	case 6:
		if len(p) < 60 || p[6] != unix.IPPROTO_TCP {
			return
		}
		s, _ = netip.AddrFromSlice(p[8:24])
		d, _ = netip.AddrFromSlice(p[24:40])
		th = p[40:min(len(p), 40+int(binary.BigEndian.Uint16(p[4:6])))]
	default:
		return
	}
	if len(th) < 20 {
		return
	}
	off := int(th[12]>>4) * 4
	return netip.AddrPortFrom(s, binary.BigEndian.Uint16(th[0:])), netip.AddrPortFrom(d, binary.BigEndian.Uint16(th[2:])),
		th[13], max(len(th)-off, 0), true
}

func (q *testQueue) packets() []queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]queued(nil), q.seen...)
}
