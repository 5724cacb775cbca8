package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A tiny scripted TCP server over raw sockets, for the segments a kernel
// socket never sends: out of order, duplicated, overlapping with
// different bytes, or with a sequence number outside the window.
//
// It lives in the server namespace on its own address (rawServerAddr,
// port 21). Nothing listens there, so the namespace's kernel would answer
// every segment with a RST: rawDropRuleset drops those. Segments in are
// read from an AF_PACKET socket on the namespace's interface; segments
// out are whole IPv4 packets written to an IPPROTO_RAW socket (the
// kernel fills in nothing but the IP checksum, which is set here anyway).
// The TCP is minimal: no retransmission, no options but MSS on the
// SYN-ACK, a fixed 65535-byte window; the peer is a real Linux client in
// the lab, one hop away, so nothing is lost unless the gateway drops it.

var rawServerAddr = netip.MustParseAddr("10.0.0.4")

const rawDropRuleset = `table inet hostileraw {
	chain out {
		type filter hook output priority filter; policy accept;
		ip saddr 10.0.0.4 tcp flags rst counter drop
	}
}
`

// rawConn is one connection of the raw server.
type rawConn struct {
	local, peer netip.AddrPort

	sendFD, recvFD int

	mu      sync.Mutex
	changed chan struct{}
	iss     uint32 // our initial sequence number
	sndNxt  uint32 // next new byte we send
	rcvNxt  uint32 // next byte expected from the peer
	peerAck uint32 // highest ACK the peer sent
	got     bytes.Buffer
	rst     bool
	fin     bool
	done    chan struct{}
	stopped bool
	// ackDelta is added to the ACK of data segments (a spoofer that does
	// not know the peer's sequence number); 0 normally.
	ackDelta uint32
}

// rawListen opens the raw sockets in ns and waits for a SYN to
// local (accept is done by the caller with accept()).
func rawListen(ns *Netns, ifname string, local netip.AddrPort) (*rawConn, error) {
	r := &rawConn{local: local, sendFD: -1, recvFD: -1, changed: make(chan struct{}), done: make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_IP))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to %s: %w", ifname, err)
		}
		tv := unix.Timeval{Usec: 100000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		r.recvFD = fd
		sfd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("raw socket: %w", err)
		}
		r.sendFD = sfd
		return nil
	})
	if err != nil {
		return nil, err
	}
	go r.readLoop()
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Close stops the reader and closes the sockets (no FIN is sent: call
// sendFlags with FIN first for an orderly end).
func (r *rawConn) Close() {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	<-r.done
	unix.Close(r.recvFD)
	unix.Close(r.sendFD)
}

func (r *rawConn) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// readLoop handles the peer's segments: SYN (answered with SYN-ACK), data
// in order (kept and acknowledged), FIN and RST.
func (r *rawConn) readLoop() {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		r.mu.Lock()
		stop := r.stopped
		r.mu.Unlock()
		if stop {
			return
		}
		n, _, err := unix.Recvfrom(r.recvFD, buf, 0)
		if err != nil {
			continue // timeout: look at stopped again
		}
		r.handle(buf[:n])
	}
}

func (r *rawConn) handle(p []byte) {
	if len(p) < 40 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP {
		return
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if total < len(p) {
		p = p[:total]
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	tcp := p[ihl:]
	if len(tcp) < 20 {
		return
	}
	sport, dport := binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	if netip.AddrPortFrom(dst, dport) != r.local {
		return
	}
	from := netip.AddrPortFrom(src, sport)
	seq, ack := binary.BigEndian.Uint32(tcp[4:8]), binary.BigEndian.Uint32(tcp[8:12])
	flags := tcp[13]
	payload := tcp[int(tcp[12]>>4)*4:]

	r.mu.Lock()
	defer r.mu.Unlock()
	const fin, syn, rst, ackf = 0x01, 0x02, 0x04, 0x10
	if flags&syn != 0 {
		if r.peer.IsValid() && from != r.peer {
			return // one connection only
		}
		r.peer = from
		r.iss = 0x10000000
		r.sndNxt = r.iss + 1
		r.rcvNxt = seq + 1
		r.send(r.iss, syn|ackf, nil, true)
		r.notify()
		return
	}
	if from != r.peer {
		return
	}
	if flags&rst != 0 {
		r.rst = true
		r.notify()
		return
	}
	if flags&ackf != 0 && int32(ack-r.peerAck) > 0 {
		r.peerAck = ack
	}
	if len(payload) > 0 {
		// In order, possibly overlapping what we have: keep the new part.
		if off := int32(r.rcvNxt - seq); off >= 0 && int(off) < len(payload) {
			r.got.Write(payload[off:])
			r.rcvNxt += uint32(len(payload)) - uint32(off)
		}
	}
	if flags&fin != 0 && seq+uint32(len(payload)) == r.rcvNxt {
		r.rcvNxt++
		r.fin = true
	}
	if len(payload) > 0 || flags&fin != 0 {
		r.send(r.sndNxt, ackf, nil, false)
	}
	r.notify()
}

// send writes one segment; mu is held.
func (r *rawConn) send(seq uint32, flags byte, payload []byte, mss bool) error {
	hl := 20
	if mss {
		hl = 24
	}
	pkt := make([]byte, 20+hl+len(payload))
	ip := pkt[:20]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(len(pkt)))
	binary.BigEndian.PutUint16(ip[4:6], uint16(seq)^0x5a5a)
	ip[6] = 0x40 // DF
	ip[8] = 64
	ip[9] = unix.IPPROTO_TCP
	s4, d4 := r.local.Addr().As4(), r.peer.Addr().As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip, 0))
	tcp := pkt[20:]
	binary.BigEndian.PutUint16(tcp[0:2], r.local.Port())
	binary.BigEndian.PutUint16(tcp[2:4], r.peer.Port())
	binary.BigEndian.PutUint32(tcp[4:8], seq)
	binary.BigEndian.PutUint32(tcp[8:12], r.rcvNxt+r.ackDelta)
	tcp[12] = byte(hl/4) << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:16], 65535)
	if mss {
		copy(tcp[20:24], []byte{2, 4, 0x05, 0xb4}) // MSS 1460
	}
	copy(tcp[hl:], payload)
	// Pseudo-header: source, destination, zero, protocol, TCP length.
	var sum uint32
	for i := 0; i < 4; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(s4[i:])) + uint32(binary.BigEndian.Uint16(d4[i:]))
	}
	sum += unix.IPPROTO_TCP + uint32(len(tcp))
	binary.BigEndian.PutUint16(tcp[16:18], checksum(tcp, sum))
	return unix.Sendto(r.sendFD, pkt, 0, &unix.SockaddrInet4{Addr: d4})
}

// checksum is the Internet checksum (RFC 1071) of b plus an initial sum.
func checksum(b []byte, sum uint32) uint16 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// waitEstablished waits for the handshake's SYN (the SYN-ACK is sent at
// once; the peer's ACK is not waited for, its first data acknowledges).
func (r *rawConn) waitEstablished(d time.Duration) error {
	return r.wait(d, func() bool { return r.peer.IsValid() })
}

func (r *rawConn) wait(d time.Duration, cond func() bool) error {
	deadline := time.After(d)
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return errors.New("timed out")
		}
	}
}

// Write sends payload as new data in one segment.
func (r *rawConn) Write(payload string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.peer.IsValid() {
		return errors.New("raw server: no connection")
	}
	err := r.send(r.sndNxt, 0x18, []byte(payload), false) // PSH|ACK
	r.sndNxt += uint32(len(payload))
	return err
}

// WriteAt sends payload at sequence offset off from the next new byte
// (negative: retransmission or overlap; positive: ahead of the stream),
// then advances the next new byte to the end of what was sent if advance
// is set and it lies beyond.
func (r *rawConn) WriteAt(off int64, payload string, advance bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq := r.sndNxt + uint32(off)
	err := r.send(seq, 0x18, []byte(payload), false)
	if end := seq + uint32(len(payload)); advance && int32(end-r.sndNxt) > 0 {
		r.sndNxt = end
	}
	return err
}

// WriteAtAck is WriteAt (without advancing) with an ACK number off by
// ackDelta from the right one.
func (r *rawConn) WriteAtAck(off int64, payload string, ackDelta uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ackDelta = ackDelta
	defer func() { r.ackDelta = 0 }()
	return r.send(r.sndNxt+uint32(off), 0x18, []byte(payload), false)
}

// Advance moves the next new byte by n (after WriteAt ahead of the stream
// filled bytes that are now being sent out of order).
func (r *rawConn) Advance(n int) {
	r.mu.Lock()
	r.sndNxt += uint32(n)
	r.mu.Unlock()
}

// FIN sends a FIN at the next new byte.
func (r *rawConn) FIN() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.send(r.sndNxt, 0x11, nil, false)
	r.sndNxt++
	return err
}

// readLines waits until the peer sent n more LFs than before (counted
// over everything received) or d passes, and returns what was received.
func (r *rawConn) received() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got.String()
}

func (r *rawConn) waitLFs(n int, d time.Duration) error {
	return r.wait(d, func() bool { return bytes.Count(r.got.Bytes(), []byte{'\n'}) >= n || r.rst })
}

// acked reports whether the peer acknowledged everything sent so far.
func (r *rawConn) allAcked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peerAck == r.sndNxt
}
