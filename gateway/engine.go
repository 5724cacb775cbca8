package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/nfq"
	"github.com/ftpalg/ftpalg/rules"
	"golang.org/x/sync/errgroup"
)

// The daemon: one worker per queue (its own Tracker, fed in packet order
// by the queue's reader, which decides each packet itself), one conntrack
// event listener, one watchdog for the table. A reader waits for its own
// nftables batch and conntrack query, never for another queue's.

const (
	tickEvery     = 50 * time.Millisecond
	watchdogEvery = 250 * time.Millisecond
)

// The daemon's seams, in its own terms. The real parts are *rules.Table,
// *ctnetlink.Conn and *nfq.Queue (the table's seam is rules.Interface, which
// rules.Memory implements too); worker_test.go replaces them with
// recording fakes to check the order of what a decision does.
type (
	kernelConntrack interface {
		Resolve(conntrack.Flow) (ctnetlink.Info, error)
		SetResized(orig conntrack.Tuple, mark uint32) error
		Dump(family uint8, keep func(ctnetlink.Info) bool) ([]ctnetlink.Info, error)
	}
	verdicter interface {
		Accept(id uint32) error
		AcceptModified(id uint32, b []byte) error
		Drop(id uint32) error
	}
)

type Engine struct {
	// Level, if set, is the log level of log; Reload sets it to the new
	// config's log.level.
	Level *slog.LevelVar

	cfg    config.Config // as started; current() is the one in force
	log    *slog.Logger
	table  rules.Interface
	ct     kernelConntrack
	cache  *ctnetlink.Cache
	ports  *conntrack.PortRegistry
	budget *conntrack.Budget // the client and total pinhole limits, shared by the workers
	pins   pinIndex
	// resized: the control connections this process marked resized and
	// whose sessions have not ended. Any other connection carrying the
	// resized mark was resized by an earlier run.
	resized flowSet
	// earlier: connections resized by an earlier run, which this one
	// rejects with resets (pin ID by flow) until their conntrack entry
	// goes.
	earlier earlierResets

	workers []*worker
	ctStats ctnetlink.ListenStats
	// events is the conntrack event subscription, set before running;
	// Reload replaces its filter (ctfilter.go).
	events *ctnetlink.Events

	// cur is the configuration in force: cfg, then what Reload applied.
	cur      atomic.Pointer[config.Config]
	reloadMu sync.Mutex
	// running: the workers and the table are up (Status and Reload
	// need them).
	running atomic.Bool
	met     engineMetrics // metrics.go
}

// flowSet is a set of flows safe for concurrent use.
type flowSet struct {
	mu sync.Mutex
	m  map[conntrack.Flow]bool
}

func (s *flowSet) add(f conntrack.Flow) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[conntrack.Flow]bool{}
	}
	s.m[f] = true
	s.mu.Unlock()
}

func (s *flowSet) remove(f conntrack.Flow) {
	s.mu.Lock()
	delete(s.m, f)
	s.mu.Unlock()
}

func (s *flowSet) has(f conntrack.Flow) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[f]
}

// earlierResets holds the reset pins of connections resized by an
// earlier run. mu guards ids, next and total.
type earlierResets struct {
	mu    sync.Mutex
	ids   map[conntrack.Flow]uint64
	next  uint64
	total int // ever reset
}

// earlierPinBase marks the pin IDs of earlier-run resets: bit 63 as any
// reset, bit 62 so that they never meet rules.ResetID of a session (session
// IDs stay far below 1<<62).
const earlierPinBase = 1<<63 | 1<<62

// add records flow and returns its pin ID, false if it is already there.
func (e *earlierResets) add(flow conntrack.Flow) (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.ids[flow]; ok {
		return 0, false
	}
	if e.ids == nil {
		e.ids = map[conntrack.Flow]uint64{}
	}
	e.next++
	e.total++
	id := earlierPinBase | e.next
	e.ids[flow] = id
	return id, true
}

// take removes flow and returns its pin ID, if it was there.
func (e *earlierResets) take(flow conntrack.Flow) (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.ids[flow]
	if ok {
		delete(e.ids, flow)
	}
	return id, ok
}

func (e *earlierResets) counts() (live, total int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ids), e.total
}

// pinIndex knows every pinhole in the kernel: which worker owns it (to
// route "used" events), and what to put back if the table is rebuilt. mu
// guards both maps.
type pinIndex struct {
	mu        sync.Mutex
	byID      map[uint64]pinRec
	byKey     map[conntrack.Pinhole]uint64
	nextPrune time.Time // when add next forgets expired records
}

type pinRec struct {
	pin     rules.Pin
	owner   *worker
	expires time.Time
}

func (x *pinIndex) add(w *worker, p rules.Pin, now time.Time) {
	x.mu.Lock()
	if now.After(x.nextPrune) {
		// Reset flows (and pins whose close was lost) are never removed
		// one by one; once their kernel timeout passed they are gone
		// from the table, so forget them here too.
		x.nextPrune = now.Add(10 * time.Second)
		for id, r := range x.byID {
			if now.After(r.expires) {
				delete(x.byID, id)
				if r.pin.Kind == rules.KindPinhole && x.byKey[r.pin.Pinhole] == id {
					delete(x.byKey, r.pin.Pinhole)
				}
			}
		}
	}
	x.byID[p.ID] = pinRec{pin: p, owner: w, expires: now.Add(p.Timeout)}
	if p.Kind == rules.KindPinhole {
		x.byKey[p.Pinhole] = p.ID // only one-shot pinholes report their use
	}
	x.mu.Unlock()
}

func (x *pinIndex) remove(id uint64) {
	x.mu.Lock()
	if r, ok := x.byID[id]; ok {
		delete(x.byID, id)
		if r.pin.Kind == rules.KindPinhole && x.byKey[r.pin.Pinhole] == id {
			delete(x.byKey, r.pin.Pinhole)
		}
	}
	x.mu.Unlock()
}

func (x *pinIndex) owner(key conntrack.Pinhole) (*worker, uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, ok := x.byKey[key]
	if !ok {
		return nil, 0, false
	}
	return x.byID[id].owner, id, true
}

// snapshot returns the live pins with their remaining lifetime.
func (x *pinIndex) snapshot(now time.Time) []rules.Pin {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]rules.Pin, 0, len(x.byID))
	for _, r := range x.byID {
		left := r.expires.Sub(now)
		if left <= 0 {
			continue
		}
		p := r.pin
		p.Timeout = max(left, time.Second)
		out = append(out, p)
	}
	return out
}

func (x *pinIndex) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byID)
}

// cacheLimit bounds the conntrack tuple cache: twice max_sessions per
// queue (each queue's Tracker holds up to max_sessions), room for the
// control connections the Trackers do not (yet) hold.
func cacheLimit(cfg config.Config) int {
	return 2 * cfg.Policy.MaxSessions * max(int(cfg.Queue.Count), 1)
}

// New returns an engine for cfg that logs to log. It opens nothing: Run
// does.
func New(cfg config.Config, log *slog.Logger) *Engine {
	d := &Engine{
		cfg:    cfg,
		log:    log,
		cache:  ctnetlink.NewCache(cacheLimit(cfg)),
		ports:  conntrack.NewPortRegistry(),
		budget: conntrack.NewBudget(),
		pins:   pinIndex{byID: make(map[uint64]pinRec), byKey: make(map[conntrack.Pinhole]uint64)},
	}
	d.cur.Store(&cfg)
	return d
}

// Run opens the kernel parts (conntrack, the queues, the table), runs the
// workers, the conntrack listener and the watchdog until ctx is done, then
// takes everything down in order: queues unbound, workers stopped, table
// deleted. It returns the first error that stopped it, nil after ctx.
func (d *Engine) Run(ctx context.Context) error {
	cfg := d.cfg
	procs := applyProcs(int(cfg.Queue.Count))
	metrics, err := d.listenMetrics()
	if err != nil {
		return err
	}
	defer metrics.stop()
	ct, err := ctnetlink.Dial(0)
	if err != nil {
		return err
	}
	defer ct.Close()
	d.ct = ct

	// The long-lived tasks (a worker per queue, the conntrack listener)
	// run under one errgroup each; the watchdog runs here. Workers stop
	// only after their queues are unbound (their context is not ctx).
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	var workers errgroup.Group
	for i := 0; i < int(cfg.Queue.Count); i++ {
		w, err := newWorker(d, i)
		if err != nil {
			return err
		}
		d.workers = append(d.workers, w)
	}
	// d.workers is fixed from here on: the listener reads it.
	// Subscribe before anything is diverted, so that no control
	// connection's NEW event is missed.
	sub, err := d.subscribe(cfg.ControlPorts) // ctfilter.go
	if err != nil {
		return err
	}
	lctx, stopListen := context.WithCancel(ctx)
	var listener errgroup.Group
	listener.Go(func() error {
		sub.Run(lctx, &d.ctStats, d.ctEvent, d.rateLimited("conntrack events"))
		return nil
	})
	defer func() { stopListen(); listener.Wait() }()
	// Queues are bound before the divert rules exist, so that no packet
	// is diverted to a queue nobody reads.
	conntrackOnQueue := false
	for _, w := range d.workers {
		num := cfg.Queue.Num + uint16(w.idx)
		q, err := nfq.Open(wctx, nfq.Config{Num: num, FailOpen: cfg.Queue.FailOpen, MaxQueueLen: cfg.Queue.MaxLen, Conntrack: true}, w.deliver, w.queueError)
		if err != nil {
			d.closeQueues()
			return err
		}
		w.q, w.queue = q, q
		conntrackOnQueue = q.Conntrack()
		workers.Go(func() error { w.run(wctx); return nil })
	}
	defer func() {
		d.closeQueues()
		stopWorkers()
		workers.Wait()
	}()

	// Control connections an earlier ftpalg resized: their sequence
	// offsets died with it, so they cannot go on. They are rejected with
	// resets from the moment the table exists (it is built with them).
	earlier := d.resetEarlier(time.Now())
	table, err := rules.Open(rules.Spec{
		Table:        cfg.Table,
		Hooks:        cfg.Hooks,
		ControlPorts: cfg.ControlPorts,
		QueueNum:     cfg.Queue.Num,
		QueueCount:   cfg.Queue.Count,
		FailOpen:     cfg.Queue.FailOpen,
		Mark:         cfg.Pinhole.Mark,
		ResizedMark:  cfg.Divert.ResizedMark,
	}, earlier...)
	if err != nil {
		return err
	}
	d.table = table
	for _, p := range earlier {
		d.pins.add(d.workers[0], p, time.Now())
	}
	defer func() {
		if err := table.Close(); err != nil {
			d.log.Error("remove table", "table", cfg.Table, "err", err)
		} else {
			d.log.Info("table removed", "table", "inet "+cfg.Table)
		}
	}()

	// The status socket: one more long-lived task, up before "ready".
	stopStatus, err := d.serveStatus(ctx, cfg.Status.Socket)
	if err != nil {
		return err
	}
	defer stopStatus()
	d.running.Store(true)
	defer d.running.Store(false)

	metrics.serve()
	d.log.Info("ready", "table", "inet "+cfg.Table, "status_socket", cfg.Status.Socket, "divert", table.Divert().String(), "hooks", cfg.Hooks,
		"queues", queueRange(cfg.Queue.Num, cfg.Queue.Count), "fail_open", cfg.Queue.FailOpen,
		"control_ports", cfg.ControlPorts, "tls", tlsSummary(cfg), "violation", cfg.Policy.Violation.String(), "mark", fmt.Sprintf("%#x", cfg.Pinhole.Mark),
		"resized_mark", fmt.Sprintf("%#x", cfg.Divert.ResizedMark), "earlier_resized_reset", len(earlier), "conntrack_on_queue", conntrackOnQueue, "gomaxprocs", procs)

	watch := time.NewTicker(watchdogEvery)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", "cause", context.Cause(ctx))
			d.logStats()
			return nil
		case <-watch.C:
			d.watchdog()
		}
	}
}

func queueRange(num, count uint16) string {
	if count <= 1 {
		return fmt.Sprint(num)
	}
	return fmt.Sprintf("%d-%d", num, num+count-1)
}

func (d *Engine) closeQueues() {
	for _, w := range d.workers {
		if w.queue != nil {
			w.queue.Close()
		}
	}
}

// watchdog puts the table back if someone deleted it (nft flush ruleset).
func (d *Engine) watchdog() {
	ok, err := d.table.Present()
	if err != nil {
		d.log.Warn("table check failed", "table", d.cfg.Table, "err", err)
		return
	}
	if ok {
		return
	}
	now := time.Now()
	pins := d.pins.snapshot(now)
	// While the table was missing, nothing was diverted; look for
	// resized connections this process does not know (again).
	earlier := d.resetEarlier(now)
	pins = append(pins, earlier...)
	if err := d.rebuildTable(pins); err != nil {
		d.log.Error("table missing; rebuild failed", "table", "inet "+d.cfg.Table, "err", err)
		return
	}
	for _, p := range earlier {
		d.pins.add(d.workers[0], p, now)
	}
	d.log.Warn("table restored", "table", "inet "+d.cfg.Table, "pinholes", len(pins))
}

// resetEarlier finds the control connections in conntrack that carry the
// resized mark but are not sessions this process resized: an earlier
// ftpalg changed their length, and the sequence offsets that kept them
// consistent died with it. Such a session can never be continued, nor
// taken for an unresized one (its peers' sequence numbers disagree by
// the lost offsets), so each gets reset pins: the divert chain answers
// its next packets, either way, with TCP resets. The pins last
// policy.session_idle (at least closed_linger) and go when the
// connection's conntrack entry does. Entries already closed are left
// alone. It returns the new pins; the caller installs them.
func (d *Engine) resetEarlier(now time.Time) []rules.Pin {
	mark := d.cfg.Divert.ResizedMark
	keep := func(i ctnetlink.Info) bool {
		return d.isControl(i.Reply.Src.Port()) && i.Mark&mark == mark && !i.Closed() && !d.resized.has(i.Flow())
	}
	pol := d.current().Policy
	timeout := max(pol.SessionIdle, pol.ClosedLinger, rules.MinTimeout)
	var pins []rules.Pin
	for _, fam := range []uint8{2, 10} { // AF_INET, AF_INET6
		found, err := d.ct.Dump(fam, keep)
		if err != nil {
			d.log.Error("cannot list conntrack entries: resized sessions of an earlier run, if any, are not reset", "err", err)
			return pins
		}
		for _, info := range found {
			flow := info.Flow()
			id, ok := d.earlier.add(flow)
			if !ok {
				continue
			}
			pins = append(pins, rules.Pin{ID: id, Kind: rules.KindReset, Flow: flow, Timeout: timeout})
			d.log.Warn("resized session from an earlier run: reset", "client", flow.Client, "server", flow.Server,
				"mark", fmt.Sprintf("%#x", info.Mark), "timeout", timeout.String())
		}
	}
	return pins
}

// ctEvent handles one conntrack event on the listener goroutine. It never
// waits for a busy worker (worker.send queues the message then), but
// carries out an idle worker's message itself. It reports whether the
// event concerned ftpalg: the socket filter (ctfilter.go) lets through
// only such events, but for what it cannot rule out.
func (d *Engine) ctEvent(e ctnetlink.Event) bool {
	info := e.Info
	if d.isControl(info.Reply.Src.Port()) {
		switch e.Type {
		case ctnetlink.EventNew:
			if info.Helper != "" {
				d.log.Warn("kernel helper on control connection: ftpalg will not rewrite it; remove the 'ct helper' rule",
					"helper", info.Helper, "client", info.Orig.Src, "server", info.Reply.Src)
			}
			d.cache.Put(info)
		case ctnetlink.EventDestroy:
			flow := info.Flow()
			d.cache.Delete(flow)
			if id, ok := d.earlier.take(flow); ok {
				// An earlier run's resized connection is gone: stop
				// resetting its 4-tuple, which a new connection may reuse.
				d.workers[0].send(ctlMsg{kind: ctlForget, id: id, flow: flow})
			}
			for _, w := range d.workers {
				w.send(ctlMsg{kind: ctlEndFlow, flow: flow, closed: info.Closed()})
			}
		}
		return true
	}
	if mark := d.cfg.Pinhole.Mark; e.Type != ctnetlink.EventNew || info.Mark&mark != mark {
		return false
	}
	// A data connection admitted by a pinhole: the filter saw it from the
	// original source to the reply source (after DNAT).
	key := conntrack.Pinhole{Src: info.Orig.Src.Addr(), Dst: info.Reply.Src}
	if w, id, ok := d.pins.owner(key); ok {
		w.send(ctlMsg{kind: ctlUsed, id: id})
	}
	return true
}

func (d *Engine) isControl(port uint16) bool {
	for _, p := range d.current().ControlPorts {
		if p == port {
			return true
		}
	}
	return false
}

// rateLimited returns an error sink that logs at most once a second.
func (d *Engine) rateLimited(what string) func(error) {
	var mu sync.Mutex
	var last time.Time
	var suppressed int
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= time.Second {
			d.log.Warn(what+" error", "err", err, "suppressed", suppressed)
			last, suppressed = now, 0
			return
		}
		suppressed++
	}
}

func (d *Engine) logStats() {
	for _, w := range d.workers {
		qs := w.queue.Stats()
		w.mu.Lock()
		ts, live, livePins := w.trStats, w.live, w.livePins
		w.mu.Unlock()
		d.log.Info("queue stats", "queue", w.queue.Num(), "received", qs.Received, "lost", qs.Lost, "overruns", qs.Overruns,
			"recv_errors", qs.RecvErrors, "verdicts", qs.Verdicts, "verdict_errors", qs.VerdictErrors,
			"sessions", ts.SessionsStarted, "rewrites", ts.Rewrites,
			"refusals", ts.Refusals, "pinholes", ts.PinholesOpened, "modified", ts.Modified, "held", ts.Held,
			"sessions_ended", ts.SessionsEnded, "tracked", live, "tracked_pinholes", livePins,
			"resized", ts.Resized, "marked_resized", w.markedResized.Load(), "mark_errors", w.markErrors.Load())
	}
	earlierLive, earlierTotal := d.earlier.counts()
	d.log.Info("conntrack stats", "events", d.ctStats.Events.Load(), "ignored", d.ctStats.Ignored.Load(), "overruns", d.ctStats.Overruns.Load(),
		"errors", d.ctStats.Errors.Load(), "cached", d.cache.Len(), "cache_full", d.cache.Refused(), "pinholes", d.pins.len(),
		"earlier_resized_reset", earlierTotal, "earlier_resized_live", earlierLive)
}

// addrString prints an invalid address as "".
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// tlsSummary renders the FTPS policy of each control port for the start-up
// log line, e.g. "21:block 2121:passthrough-range(30000-30100)".
func tlsSummary(cfg config.Config) string {
	var b strings.Builder
	for i, p := range cfg.ControlPorts {
		if i > 0 {
			b.WriteByte(' ')
		}
		r := cfg.TLSRule(p)
		fmt.Fprintf(&b, "%d:%v", p, r.Mode)
		if r.Mode == conntrack.TLSPassthroughRange {
			fmt.Fprintf(&b, "(%d-%d)", r.PassiveLo, r.PassiveHi)
		}
	}
	return b.String()
}
