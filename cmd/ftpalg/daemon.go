package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/nfq"
	"github.com/ftpalg/ftpalg/rules"
)

// The daemon: one worker per queue (its own Tracker, fed in packet order),
// one conntrack event listener, one watchdog for the table. Workers do the
// blocking work (nftables batches, conntrack queries) so that queue
// readers never wait.

const (
	tickEvery     = 50 * time.Millisecond
	watchdogEvery = 250 * time.Millisecond
	queueDepth    = 4096 // packets waiting between a reader and its worker
)

// The daemon's seams, in its own terms. The real parts are *rules.Table,
// *ctnetlink.Conn and *nfq.Queue; worker_test.go replaces them with
// recording fakes to check the order of what a decision does.
type (
	pinholeTable interface {
		Apply(rules.Change) error
		Present() (bool, error)
		Rebuild([]rules.Pin) error
	}
	kernelConntrack interface {
		Resolve(conntrack.Flow) (ctnetlink.Info, error)
		SetLiberal(orig conntrack.Tuple) error
	}
	verdicter interface {
		Accept(id uint32) error
		AcceptModified(id uint32, b []byte) error
		Drop(id uint32) error
	}
)

type daemon struct {
	cfg    config.Config
	log    *slog.Logger
	table  pinholeTable
	ct     kernelConntrack
	cache  *ctnetlink.Cache
	ports  *conntrack.PortRegistry
	budget *conntrack.Budget // the client and total pinhole limits, shared by the workers
	pins   pinIndex

	workers []*worker
	ctStats ctnetlink.ListenStats
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

// runDaemon runs until ctx ends, then removes what it installed.
func runDaemon(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	d := &daemon{
		cfg:    cfg,
		log:    log,
		cache:  ctnetlink.NewCache(),
		ports:  conntrack.NewPortRegistry(),
		budget: conntrack.NewBudget(),
		pins:   pinIndex{byID: make(map[uint64]pinRec), byKey: make(map[conntrack.Pinhole]uint64)},
	}
	ct, err := ctnetlink.Dial(0)
	if err != nil {
		return err
	}
	defer ct.Close()
	d.ct = ct

	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	var wg sync.WaitGroup
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
	sub, err := ctnetlink.Subscribe(0)
	if err != nil {
		return err
	}
	lctx, stopListen := context.WithCancel(ctx)
	listenDone := make(chan struct{})
	go func() {
		defer close(listenDone)
		sub.Run(lctx, &d.ctStats, d.ctEvent, d.rateLimited("conntrack events"))
	}()
	defer func() { stopListen(); <-listenDone }()
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
		wg.Add(1)
		go func() { defer wg.Done(); w.run(wctx) }()
	}
	defer func() {
		d.closeQueues()
		stopWorkers()
		wg.Wait()
	}()

	table, err := rules.Open(rules.Spec{
		Table:        cfg.Table,
		Hooks:        cfg.Hooks,
		ControlPorts: cfg.ControlPorts,
		QueueNum:     cfg.Queue.Num,
		QueueCount:   cfg.Queue.Count,
		FailOpen:     cfg.Queue.FailOpen,
		Mark:         cfg.Pinhole.Mark,
		ResizedMark:  cfg.Divert.ResizedMark,
	})
	if err != nil {
		return err
	}
	d.table = table
	defer func() {
		if err := table.Close(); err != nil {
			d.log.Error("remove table", "table", cfg.Table, "err", err)
		} else {
			d.log.Info("table removed", "table", "inet "+cfg.Table)
		}
	}()

	d.log.Info("ready", "table", "inet "+cfg.Table, "divert", table.Divert().String(), "hooks", cfg.Hooks,
		"queues", queueRange(cfg.Queue.Num, cfg.Queue.Count), "fail_open", cfg.Queue.FailOpen,
		"control_ports", cfg.ControlPorts, "tls", tlsSummary(cfg), "violation", cfg.Policy.Violation.String(), "mark", fmt.Sprintf("%#x", cfg.Pinhole.Mark), "conntrack_on_queue", conntrackOnQueue)

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

func (d *daemon) closeQueues() {
	for _, w := range d.workers {
		if w.queue != nil {
			w.queue.Close()
		}
	}
}

// watchdog puts the table back if someone deleted it (nft flush ruleset).
func (d *daemon) watchdog() {
	ok, err := d.table.Present()
	if err != nil {
		d.log.Warn("table check failed", "table", d.cfg.Table, "err", err)
		return
	}
	if ok {
		return
	}
	pins := d.pins.snapshot(time.Now())
	if err := d.table.Rebuild(pins); err != nil {
		d.log.Error("table missing; rebuild failed", "table", "inet "+d.cfg.Table, "err", err)
		return
	}
	d.log.Warn("table restored", "table", "inet "+d.cfg.Table, "pinholes", len(pins))
}

// ctEvent handles one conntrack event on the listener goroutine: it must
// not block.
func (d *daemon) ctEvent(e ctnetlink.Event) {
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
			for _, w := range d.workers {
				w.send(ctlMsg{kind: ctlEndFlow, flow: flow, closed: info.Closed()})
			}
		}
		return
	}
	if mark := d.cfg.Pinhole.Mark; e.Type != ctnetlink.EventNew || info.Mark&mark != mark {
		return
	}
	// A data connection admitted by a pinhole: the filter saw it from the
	// original source to the reply source (after DNAT).
	key := conntrack.Pinhole{Src: info.Orig.Src.Addr(), Dst: info.Reply.Src}
	if w, id, ok := d.pins.owner(key); ok {
		w.send(ctlMsg{kind: ctlUsed, id: id})
	}
}

func (d *daemon) isControl(port uint16) bool {
	for _, p := range d.cfg.ControlPorts {
		if p == port {
			return true
		}
	}
	return false
}

// rateLimited returns an error sink that logs at most once a second.
func (d *daemon) rateLimited(what string) func(error) {
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

func (d *daemon) logStats() {
	for _, w := range d.workers {
		qs := w.queue.Stats()
		w.mu.Lock()
		ts, live, livePins := w.trStats, w.live, w.livePins
		w.mu.Unlock()
		d.log.Info("queue stats", "queue", w.queue.Num(), "received", qs.Received, "lost", qs.Lost, "overruns", qs.Overruns,
			"recv_errors", qs.RecvErrors, "verdicts", qs.Verdicts, "verdict_errors", qs.VerdictErrors,
			"backlog_drops", w.backlogDrops.Load(), "sessions", ts.SessionsStarted, "rewrites", ts.Rewrites,
			"refusals", ts.Refusals, "pinholes", ts.PinholesOpened, "modified", ts.Modified, "held", ts.Held,
			"sessions_ended", ts.SessionsEnded, "tracked", live, "tracked_pinholes", livePins)
	}
	d.log.Info("conntrack stats", "events", d.ctStats.Events.Load(), "overruns", d.ctStats.Overruns.Load(),
		"errors", d.ctStats.Errors.Load(), "cached", d.cache.Len(), "pinholes", d.pins.len())
}

// addrString prints an invalid address as "".
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func addrPort(a netip.Addr, p uint16) netip.AddrPort { return netip.AddrPortFrom(a, p) }

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
