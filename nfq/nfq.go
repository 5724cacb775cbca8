package nfq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Packet is one queued packet.
type Packet struct {
	Queue *Queue
	// ID is the kernel's packet ID, the handle for the verdict.
	ID uint32
	// Data is the whole IP packet. It is the caller's: nothing else
	// refers to it once the packet is delivered.
	Data []byte
	// Ct is the raw conntrack attribute block (CTA_*) when the kernel
	// attaches one, else nil.
	Ct []byte
}

// Config configures one queue.
type Config struct {
	// Num is the queue number.
	Num uint16
	// FailOpen lets the kernel accept packets when the queue is full
	// instead of dropping them (NFQA_CFG_F_FAIL_OPEN).
	FailOpen bool
	// MaxQueueLen bounds how many packets wait for a verdict (default
	// 4096).
	MaxQueueLen uint32
	// ReadBuffer is the queue socket's receive buffer in bytes (default
	// 4 MiB); a larger buffer rides out longer stalls before ENOBUFS.
	ReadBuffer int
	// Conntrack asks the kernel to attach conntrack data to each packet.
	// Kernels without CONFIG_NETFILTER_NETLINK_GLUE_CT refuse it; the
	// queue then opens without, and Queue.Conntrack reports false.
	Conntrack bool
	// NetNS is a network namespace file descriptor (0: the current one).
	NetNS int
}

// Stats are a queue's counters; read them with Queue.Stats.
type Stats struct {
	Received      uint64 // packets delivered to the caller
	Lost          uint64 // packets the kernel could not hand over (ID gaps)
	Overruns      uint64 // ENOBUFS on the queue socket
	RecvErrors    uint64 // other receive errors
	Verdicts      uint64 // verdicts sent
	VerdictErrors uint64 // verdicts the kernel refused or that failed to send
}

// Queue is one bound NFQUEUE queue.
type Queue struct {
	nf        *nfqueue.Nfqueue
	num       uint16
	conntrack bool
	cancel    context.CancelFunc
	closeOnce sync.Once

	lastID uint32 // touched only by the reader goroutine

	received, lost, overruns, recvErrors, verdicts, verdictErrors atomic.Uint64
}

// Open binds queue cfg.Num and starts its reader. deliver is called on the
// reader goroutine for every packet and must not block; onError (may be
// nil) is told about every receive error, also on the reader goroutine.
// The reader stops when ctx ends or Close is called.
func Open(ctx context.Context, cfg Config, deliver func(Packet), onError func(error)) (*Queue, error) {
	if cfg.MaxQueueLen == 0 {
		cfg.MaxQueueLen = 4096
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 4 << 20
	}
	if cfg.Conntrack {
		q, err := open(ctx, cfg, true, deliver, onError)
		if err == nil {
			return q, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) {
			return nil, err
		}
	}
	return open(ctx, cfg, false, deliver, onError)
}

func open(ctx context.Context, cfg Config, withCt bool, deliver func(Packet), onError func(error)) (*Queue, error) {
	var flags uint32
	if cfg.FailOpen {
		flags |= nfqueue.NfQaCfgFlagFailOpen
	}
	if withCt {
		flags |= nfqueue.NfQaCfgFlagConntrack
	}
	nf, err := nfqueue.Open(&nfqueue.Config{
		NfQueue:      cfg.Num,
		MaxPacketLen: 0xffff,
		MaxQueueLen:  cfg.MaxQueueLen,
		Copymode:     nfqueue.NfQnlCopyPacket,
		Flags:        flags,
		NetNS:        cfg.NetNS,
	})
	if err != nil {
		return nil, fmt.Errorf("nfq: open queue %d: %w", cfg.Num, err)
	}
	if err := nf.Con.SetReadBuffer(cfg.ReadBuffer); err != nil {
		nf.Close()
		return nil, fmt.Errorf("nfq: queue %d: read buffer: %w", cfg.Num, err)
	}
	// Report ENOBUFS instead of hiding it: the ID gap shows what was lost.
	_ = nf.Con.SetOption(netlink.NoENOBUFS, false)

	rctx, cancel := context.WithCancel(ctx)
	q := &Queue{nf: nf, num: cfg.Num, conntrack: withCt, cancel: cancel}
	hook := func(a nfqueue.Attribute) int {
		if a.PacketID == nil || a.Payload == nil {
			return 0
		}
		id := *a.PacketID
		if q.lastID != 0 && id > q.lastID+1 {
			q.lost.Add(uint64(id - q.lastID - 1))
		}
		q.lastID = id
		q.received.Add(1)
		p := Packet{Queue: q, ID: id, Data: *a.Payload}
		if a.Ct != nil {
			p.Ct = *a.Ct
		}
		deliver(p)
		return 0
	}
	errFn := func(err error) int {
		if rctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) {
			return 1
		}
		if errors.Is(err, unix.ENOBUFS) {
			q.overruns.Add(1)
		} else {
			q.recvErrors.Add(1)
		}
		if onError != nil {
			onError(fmt.Errorf("nfq: queue %d: %w", cfg.Num, err))
		}
		return 0
	}
	if err := nf.RegisterWithErrorFunc(rctx, hook, errFn); err != nil {
		cancel()
		nf.Close()
		return nil, fmt.Errorf("nfq: bind queue %d: %w", cfg.Num, err)
	}
	return q, nil
}

// Num is the queue number.
func (q *Queue) Num() uint16 { return q.num }

// Conntrack reports whether the kernel attaches conntrack data.
func (q *Queue) Conntrack() bool { return q.conntrack }

// Accept lets packet id pass unchanged.
func (q *Queue) Accept(id uint32) error {
	return q.count(q.nf.SetVerdict(id, nfqueue.NfAccept))
}

// AcceptModified lets packet id pass with the bytes b instead.
func (q *Queue) AcceptModified(id uint32, b []byte) error {
	return q.count(q.nf.SetVerdictWithOption(id, nfqueue.NfAccept, nfqueue.WithAlteredPacket(b)))
}

// Drop discards packet id.
func (q *Queue) Drop(id uint32) error {
	return q.count(q.nf.SetVerdict(id, nfqueue.NfDrop))
}

func (q *Queue) count(err error) error {
	q.verdicts.Add(1)
	if err != nil {
		q.verdictErrors.Add(1)
		return fmt.Errorf("nfq: queue %d: verdict: %w", q.num, err)
	}
	return nil
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Received:      q.received.Load(),
		Lost:          q.lost.Load(),
		Overruns:      q.overruns.Load(),
		RecvErrors:    q.recvErrors.Load(),
		Verdicts:      q.verdicts.Load(),
		VerdictErrors: q.verdictErrors.Load(),
	}
}

// Close stops the reader and unbinds the queue. Packets still waiting for
// a verdict are dropped by the kernel when the queue is unbound.
func (q *Queue) Close() error {
	var err error
	q.closeOnce.Do(func() {
		q.cancel()
		err = q.nf.Close()
	})
	return err
}
