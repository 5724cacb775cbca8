package ctnetlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Conn makes queries and updates. It is safe for concurrent use: mu
// serialises request/response pairs on the socket.
type Conn struct {
	mu sync.Mutex
	c  *netlink.Conn
}

// Dial opens a query socket in the network namespace netns (0: the
// current one).
func Dial(netns int) (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: dial: %w", err)
	}
	return &Conn{c: c}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// ErrNotFound means no conntrack entry matched.
var ErrNotFound = errors.New("ctnetlink: no such conntrack entry")

func (c *Conn) query(m netlink.Message) ([]netlink.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, err := c.c.Execute(m)
	if errors.Is(err, unix.ENOENT) {
		return nil, ErrNotFound
	}
	return msgs, err
}

// Get returns the entry whose original tuple (reply=false) or reply tuple
// is t.
func (c *Conn) Get(t conntrack.Tuple, reply bool) (Info, error) {
	req, err := getRequest(t, reply)
	if err != nil {
		return Info{}, fmt.Errorf("ctnetlink: get %v: %w", t, err)
	}
	msgs, err := c.query(req)
	if err != nil {
		return Info{}, fmt.Errorf("ctnetlink: get %v: %w", t, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 || uint16(m.Header.Type)>>8 != subsysCT {
			continue
		}
		return DecodeInfo(m.Data[4:])
	}
	return Info{}, ErrNotFound
}

// Dump returns every TCP entry of family fam (2 or 10) for which keep
// returns true.
func (c *Conn) Dump(fam uint8, keep func(Info) bool) ([]Info, error) {
	msgs, err := c.query(message(msgCTGet, fam, netlink.Request|netlink.Dump, nil))
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: dump: %w", err)
	}
	var out []Info
	for _, m := range msgs {
		if len(m.Data) < 4 || uint16(m.Header.Type)>>8 != subsysCT {
			continue
		}
		info, err := DecodeInfo(m.Data[4:])
		if err != nil || info.Proto != protoTCP {
			continue
		}
		if keep(info) {
			out = append(out, info)
		}
	}
	return out, nil
}

// Resolve finds the entry of a control connection given as the filter
// hooks see it (after DNAT, before SNAT). The client's own endpoint is the
// original source and the server's own endpoint the reply source, but the
// other half of each tuple is unknown when NAT is involved, so it tries
// the untranslated original tuple, then the untranslated reply tuple, then
// a dump of the family.
func (c *Conn) Resolve(f conntrack.Flow) (Info, error) {
	if info, err := c.Get(conntrack.Tuple{Src: f.Client, Dst: f.Server}, false); err == nil && info.Flow() == f {
		return info, nil
	}
	if info, err := c.Get(conntrack.Tuple{Src: f.Server, Dst: f.Client}, true); err == nil && info.Flow() == f {
		return info, nil
	}
	fam := family(conntrack.Tuple{Src: f.Client})
	found, err := c.Dump(fam, func(i Info) bool { return i.Flow() == f })
	if err != nil {
		return Info{}, err
	}
	if len(found) == 0 {
		return Info{}, fmt.Errorf("ctnetlink: resolve %v: %w", f, ErrNotFound)
	}
	return found[0], nil
}

// SetLiberal marks the TCP connection with original tuple orig "be
// liberal" in both directions, so that the kernel's window tracking
// accepts the sequence numbers of a stream whose length ftpalg changed.
func (c *Conn) SetLiberal(orig conntrack.Tuple) error {
	req, err := liberalRequest(orig)
	if err == nil {
		_, err = c.query(req)
	}
	if err != nil {
		return fmt.Errorf("ctnetlink: set be_liberal on %v: %w", orig, err)
	}
	return nil
}

// SetResized marks the TCP connection with original tuple orig as one
// whose stream length ftpalg changed: "be liberal" in both directions, as
// SetLiberal, and the bits of mark OR-ed into its ct mark (its other mark
// bits stay), in one update.
func (c *Conn) SetResized(orig conntrack.Tuple, mark uint32) error {
	req, err := resizedRequest(orig, mark)
	if err == nil {
		_, err = c.query(req)
	}
	if err != nil {
		return fmt.Errorf("ctnetlink: mark %v resized (be_liberal, ct mark |= %#x): %w", orig, mark, err)
	}
	return nil
}

// Event is one conntrack event.
type Event struct {
	Type EventType
	Info Info
}

// ListenStats counts what Run saw.
type ListenStats struct {
	// Events counts the messages the socket delivered, after its
	// filter: each one woke the listener.
	Events atomic.Uint64
	// Ignored counts those of them that were of no use: not a TCP
	// event, undecodable, or refused by the handler.
	Ignored  atomic.Uint64
	Overruns atomic.Uint64 // ENOBUFS: events were lost
	Errors   atomic.Uint64
}

// Events is a subscription to conntrack NEW and DESTROY events.
type Events struct {
	c *netlink.Conn
}

// Subscribe joins the conntrack NEW and DESTROY groups in netns (0: the
// current namespace). Events that happen after it returns are delivered
// by Run. With f, only the events f asks for reach the socket (see
// Filter; the filter is attached before the groups are joined); with nil,
// every event does.
func Subscribe(netns int, f *Filter) (*Events, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: listen: %w", err)
	}
	e := &Events{c: c}
	if f != nil {
		if err := e.SetFilter(f); err != nil {
			c.Close()
			return nil, err
		}
	}
	// NFNLGRP_CONNTRACK_NEW = 1, NFNLGRP_CONNTRACK_DESTROY = 3.
	for _, g := range []uint32{1, 3} {
		if err := c.JoinGroup(g); err != nil {
			c.Close()
			return nil, fmt.Errorf("ctnetlink: join group %d: %w", g, err)
		}
	}
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetOption(netlink.NoENOBUFS, false)
	return e, nil
}

// SetFilter replaces the socket filter of the subscription with f's
// program for this host's byte order; nil removes it (every event is
// delivered). It may be called while Run runs: messages already queued
// on the socket stay, later ones meet the new filter.
func (e *Events) SetFilter(f *Filter) error {
	if f == nil {
		if err := e.c.RemoveBPF(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("ctnetlink: remove event filter: %w", err)
		}
		return nil
	}
	prog, err := f.Program(binary.NativeEndian)
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("ctnetlink: event filter: %w", err)
	}
	if err := e.c.SetBPF(raw); err != nil {
		return fmt.Errorf("ctnetlink: attach event filter (%d instructions): %w", len(raw), err)
	}
	return nil
}

// Run calls handle for each TCP event, on Run's goroutine, until ctx ends;
// then it closes the subscription. handle must be quick; it reports
// whether the event was of use (stats.Ignored counts the others).
// Overruns (ENOBUFS) lose events: they are counted, reported to onError
// and listening goes on.
func (e *Events) Run(ctx context.Context, stats *ListenStats, handle func(Event) bool, onError func(error)) {
	c := e.c
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	for {
		msgs, err := c.Receive()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				stats.Overruns.Add(1)
			} else {
				stats.Errors.Add(1)
			}
			if onError != nil {
				onError(fmt.Errorf("ctnetlink: events: %w", err))
			}
			continue
		}
		for _, m := range msgs {
			stats.Events.Add(1)
			typ, info, err := DecodeEvent(m)
			if err != nil || info.Proto != protoTCP || !handle(Event{Type: typ, Info: info}) {
				stats.Ignored.Add(1)
			}
		}
	}
}

// Cache holds the tuples of the control connections ftpalg follows, keyed
// by the inspector's Flow. It implements conntrack.NATLookup and never
// blocks for long. It holds at most limit entries: a full cache takes no
// new flow (the caller then asks the kernel when it needs the tuples), so
// control connections beyond what ftpalg tracks, or entries whose DESTROY
// event was lost, cannot grow it without bound. mu guards m and full.
type Cache struct {
	mu    sync.RWMutex
	m     map[conntrack.Flow]Info
	limit int
	full  uint64 // entries refused because the cache was full
}

// NewCache returns an empty cache of at most limit entries (at least 1).
func NewCache(limit int) *Cache {
	return &Cache{m: make(map[conntrack.Flow]Info), limit: max(limit, 1)}
}

var _ conntrack.NATLookup = (*Cache)(nil)

// Lookup reports the tuples of a control connection. A connection the
// kernel's own ftp helper is attached to reports not found: its payload
// must not be rewritten a second time.
func (c *Cache) Lookup(f conntrack.Flow) (conntrack.Tuples, bool) {
	c.mu.RLock()
	info, ok := c.m[f]
	c.mu.RUnlock()
	if !ok || info.Helper != "" {
		return conntrack.Tuples{}, false
	}
	return info.Tuples(), true
}

// Get returns the cached entry of f.
func (c *Cache) Get(f conntrack.Flow) (Info, bool) {
	c.mu.RLock()
	info, ok := c.m[f]
	c.mu.RUnlock()
	return info, ok
}

// Put records an entry under its Flow (replacing the flow's entry, if
// any), and reports false if the cache is full and the flow new to it.
func (c *Cache) Put(info Info) bool {
	f := info.Flow()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[f]; !ok && len(c.m) >= c.limit {
		c.full++
		return false
	}
	c.m[f] = info
	return true
}

// Refused is how many new entries Put refused because the cache was full.
func (c *Cache) Refused() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.full
}

// Delete forgets f.
func (c *Cache) Delete(f conntrack.Flow) {
	c.mu.Lock()
	delete(c.m, f)
	c.mu.Unlock()
}

// Len is the number of cached entries.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
