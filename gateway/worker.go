package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/nfq"
	"github.com/ftpalg/ftpalg/rules"
)

// worker owns one queue's Tracker. A packet is decided on the goroutine
// that received it, the queue's reader: inspection, the table batch and
// the verdict, with no hand-off. The worker's own goroutine (run) carries
// out control messages and ticks. busy serialises the two, so the
// Tracker, the scratch state and the per-flow maps are touched by one
// goroutine at a time; a queue only ever waits on its own worker's work.
type worker struct {
	d     *Engine
	idx   int
	q     verdicter  // the queue's verdicts (queue itself in the daemon)
	queue *nfq.Queue // nil in tests
	tr    *conntrack.Tracker
	log   *slog.Logger

	// busy guards the Tracker and everything below it that the packet
	// path uses (res, trans, tried, met.cur, clock, ctlBuf).
	busy   sync.Mutex
	ctl    ctlBox
	ctlBuf []ctlMsg // the worker's scratch copy of what ctl held

	res   conntrack.Result
	trans rules.Translator        // each Result's effects to one table Change
	tried map[conntrack.Flow]bool // flows already looked up in the kernel

	// Resized sessions marked in conntrack (be_liberal and the resized
	// bit), and the updates that failed.
	markedResized, markErrors atomic.Uint64
	errs                      func(error)

	met   workerMetrics // Prometheus counters (metrics.go); met.pub is guarded by mu
	clock time.Time     // a recent time.Now(), renewed every tick (packet)
	// verdictAt is when (as time.Since(clock)) finish gave the packet its
	// verdict: packet times the decision up to there.
	verdictAt time.Duration
	attrs     []slog.Attr // scratch for the "pinhole open" line

	mu      sync.Mutex // guards trStats, live and livePins (copies for other goroutines)
	trStats conntrack.Stats
	// live and livePins are the Tracker's session table and pinhole
	// count at the last tick: what is still held, for the exit stats.
	live, livePins int
}

// maxTried bounds the set of flows already looked up in conntrack.
const maxTried = 1 << 16

type ctlKind uint8

const (
	ctlUsed    ctlKind = iota + 1 // pinhole id was consumed
	ctlEndFlow                    // the kernel destroyed flow's conntrack entry
	ctlForget                     // remove the reset pin id of an earlier run's resized connection (flow), gone from conntrack
	ctlRun                        // call run with the worker's busy mutex held (status snapshots, reload)
)

type ctlMsg struct {
	kind ctlKind
	id   uint64
	flow conntrack.Flow
	// closed: the destroyed entry's connection had closed (TIME_WAIT,
	// CLOSE), so a live session of the flow is a newer connection.
	closed bool
	// run is ctlRun's function: it may read and change the Tracker.
	run func(w *worker, now time.Time)
}

func newWorker(d *Engine, idx int) (*worker, error) {
	w := &worker{
		d:     d,
		idx:   idx,
		log:   d.log.With("queue", d.cfg.Queue.Num+uint16(idx)),
		ctl:   ctlBox{wake: make(chan struct{}, 1)},
		trans: rules.Translator{ResetTimeout: d.cfg.Policy.ClosedLinger},
		tried: make(map[conntrack.Flow]bool),
		clock: time.Now(),
	}
	w.errs = d.rateLimited("queue")
	tls := make(map[uint16]conntrack.TLSRule, len(d.cfg.ControlPorts))
	for _, p := range d.cfg.ControlPorts {
		tls[p] = d.cfg.TLSRule(p)
	}
	tr, err := conntrack.NewTracker(conntrack.Config{
		Policy:       d.cfg.Policy,
		ControlPorts: d.cfg.ControlPorts,
		NAT:          workerNAT{w},
		Ports:        d.ports,
		Budget:       d.budget,
		TLS:          tls,
		FirstSession: uint64(idx) << 40,
	})
	if err != nil {
		return nil, err
	}
	w.tr = tr
	return w, nil
}

// deliver runs on the queue's reader goroutine and decides the packet
// there: Tracker, table batch (if the packet announces a data
// connection), verdict. It waits only for its own worker's tick or
// control message, never for another queue: the kernel queue (max_len)
// absorbs a burst meanwhile, and fail_open covers an overrun.
func (w *worker) deliver(p nfq.Packet) {
	w.busy.Lock()
	w.packet(p)
	w.busy.Unlock()
}

func (w *worker) queueError(err error) { w.errs(err) }

// send routes a control message to the worker without blocking and
// without dropping it: a burst of conntrack events (conntrack -D of many
// entries, the end of a SYN flood) must end every session it names, or
// those sessions stay until session_idle. If the worker is idle and has
// nothing queued, the message is carried out at once on the sender's
// goroutine (no wake-up of the worker's); otherwise it waits in the inbox,
// behind what is already there.
func (w *worker) send(m ctlMsg) {
	if w.busy.TryLock() {
		if w.ctl.empty() {
			w.control(m, time.Now())
			w.busy.Unlock()
			return
		}
		w.busy.Unlock()
	}
	w.ctl.put(m)
}

// ctlBox is a worker's inbox for control messages from the conntrack
// listener. It grows instead of blocking the listener or dropping; what
// it holds is bounded by the conntrack events of the namespace, and the
// worker empties it whenever wake fires. mu guards msgs.
type ctlBox struct {
	mu   sync.Mutex
	msgs []ctlMsg
	wake chan struct{} // capacity 1: "msgs is not empty"
}

func (b *ctlBox) put(m ctlMsg) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// empty reports whether nothing waits.
func (b *ctlBox) empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs) == 0
}

// take moves everything waiting into dst (reused) and returns it.
func (b *ctlBox) take(dst []ctlMsg) []ctlMsg {
	b.mu.Lock()
	dst = append(dst[:0], b.msgs...)
	clear(b.msgs)
	if cap(b.msgs) > 4096 {
		b.msgs = nil // let a burst's backing array go
	} else {
		b.msgs = b.msgs[:0]
	}
	b.mu.Unlock()
	return dst
}

func (w *worker) run(ctx context.Context) {
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.ctl.wake:
			w.busy.Lock()
			w.ctlBuf = w.ctl.take(w.ctlBuf)
			for _, m := range w.ctlBuf {
				w.control(m, time.Now())
			}
			w.busy.Unlock()
		case now := <-tick.C:
			w.busy.Lock()
			w.tick(now)
			w.busy.Unlock()
		}
	}
}

// tick releases held packets and expires pinholes and sessions as of now.
func (w *worker) tick(now time.Time) {
	w.clock = now
	w.tr.Tick(now, &w.res)
	w.finish(now, 0, false)
	w.mu.Lock()
	w.trStats = w.tr.Stats
	w.live, w.livePins = w.tr.Sessions(), w.tr.Pinholes()
	w.met.pub = w.met.cur
	w.mu.Unlock()
}

// control carries out a message from the conntrack listener.
func (w *worker) control(m ctlMsg, now time.Time) {
	switch m.kind {
	case ctlRun:
		m.run(w, now)
	case ctlUsed:
		w.tr.PinholeUsed(m.id, &w.res)
	case ctlForget:
		if err := w.d.applyTable(rules.Change{Remove: []rules.Pin{{ID: m.id}}}); err != nil {
			w.log.Error("nftables batch failed: reset elements stay until their timeout", "client", m.flow.Client, "server", m.flow.Server, "err", err)
		}
		w.d.pins.remove(m.id)
		w.log.Info("resized session from an earlier run: gone", "client", m.flow.Client, "server", m.flow.Server)
		return
	case ctlEndFlow:
		if m.closed {
			w.tr.EndClosedFlow(m.flow, now, &w.res)
		} else {
			w.tr.EndFlow(m.flow, now, &w.res)
		}
	}
	w.finish(now, 0, false)
}

// packet inspects one queued packet and times its decision. The clock is
// read as clock + its monotonic age: one clock read instead of time.Now's
// two, so timing the decision costs no more than before.
func (w *worker) packet(p nfq.Packet) {
	start := time.Since(w.clock)
	w.packetAt(p, w.clock.Add(start))
	took := w.verdictAt - start // to the verdict: the logging after it is not the packet's wait
	w.met.cur.decision.observe(took)
	if opensData(w.res.Effects) {
		w.met.cur.announce.observe(took)
	}
}

// opensData reports whether effects open a pinhole or a passive range.
func opensData(effects []conntrack.Effect) bool {
	for i := range effects {
		if k := effects[i].Kind; k == conntrack.EffOpenPinhole || k == conntrack.EffOpenRange {
			return true
		}
	}
	return false
}

// packetAt inspects one queued packet as of now (tests pass their clock).
func (w *worker) packetAt(p nfq.Packet, now time.Time) {
	if len(p.Ct) > 0 {
		// The kernel attached the conntrack entry: use it.
		if info, err := ctnetlink.DecodeInfo(p.Ct); err == nil {
			w.d.cache.Put(info)
		}
	}
	w.tr.Process(p.Data, uint64(p.ID), now, &w.res)
	w.finish(now, p.ID, true)
}

// workerNAT is the Tracker's NAT lookup. It answers from the cache that
// conntrack events fill; on a miss (an event was lost, or the connection
// predates ftpalg) it asks the kernel once per flow. The Tracker asks only
// when an announcement needs the tuples, so the query delays only its own
// queue, and only the announcing packet.
type workerNAT struct{ w *worker }

func (n workerNAT) Lookup(flow conntrack.Flow) (conntrack.Tuples, bool) {
	w := n.w
	if t, ok := w.d.cache.Lookup(flow); ok {
		return t, true
	}
	if _, cached := w.d.cache.Get(flow); cached || w.tried[flow] {
		return conntrack.Tuples{}, false // known, but with a kernel helper; or already asked
	}
	if len(w.tried) >= maxTried {
		clear(w.tried) // flows whose sessions never ended cleanly must not grow it forever
	}
	w.tried[flow] = true
	info, err := w.d.ct.Resolve(flow)
	if err != nil {
		w.log.Warn("conntrack lookup failed: treating the control connection as untranslated",
			"client", flow.Client, "server", flow.Server, "err", err)
		return conntrack.Tuples{}, false
	}
	w.d.cache.Put(info)
	return w.d.cache.Lookup(flow)
}

// finish carries out a Result: effects first (one nftables batch, then
// the conntrack mark of a session that was resized), then the verdicts.
//
// The log lines come last, after the verdicts: writing them is not the
// packets' business, and an announcement waits for its batch only.
func (w *worker) finish(now time.Time, id uint32, hasPacket bool) {
	res := &w.res
	if len(res.Effects) > 0 {
		w.effects(now)
	}
	if hasPacket {
		w.verdict(id, res.Verdict, res.Packet)
		w.verdictAt = time.Since(w.clock)
	}
	for _, r := range res.Released {
		w.verdict(uint32(r.Token), r.Verdict, r.Packet)
	}
	w.met.cur.released += uint64(len(res.Released))
	for i := range res.Effects {
		w.logEffect(&res.Effects[i])
	}
	if len(res.Events) > 0 {
		w.events()
	}
}

func (w *worker) verdict(id uint32, v conntrack.Verdict, b []byte) {
	w.met.verdict(v)
	var err error
	switch v {
	case conntrack.Accept:
		err = w.q.Accept(id)
	case conntrack.AcceptModified:
		err = w.q.AcceptModified(id, b)
	case conntrack.Drop:
		err = w.q.Drop(id)
	case conntrack.Hold:
		return
	}
	if err != nil {
		w.errs(err)
	}
}

// markResized marks the control connection of a session whose stream
// length changed (EffResized), before any verdict of the Result that
// changed it: be_liberal in both directions, so that the kernel's window
// tracking does not mark its shifted segments invalid, and the resized
// bit of the ct mark, so that the divert rules queue all its packets
// (pure ACKs too: their acknowledgement numbers need shifting) and a
// later ftpalg resets it instead of taking it for an unresized session.
// Sessions never resized get neither.
func (w *worker) markResized(e *conntrack.Effect) {
	flow := e.Flow
	orig := conntrack.Tuple{Src: flow.Client, Dst: flow.Server}
	if info, ok := w.d.cache.Get(flow); ok {
		orig = info.Orig
	} else if info, err := w.d.ct.Resolve(flow); err == nil {
		w.d.cache.Put(info)
		orig = info.Orig
	}
	w.d.resized.add(flow)
	mark := w.d.cfg.Divert.ResizedMark
	w.log.Info("session resized", "session", e.Session, "client", flow.Client, "server", flow.Server)
	if err := w.d.ct.SetResized(orig, mark); err != nil {
		w.markErrors.Add(1)
		w.log.Error("cannot mark resized control connection (be_liberal, ct mark): its pure ACKs pass unadjusted and conntrack may flag its segments invalid",
			"session", e.Session, "client", flow.Client, "server", flow.Server, "mark", fmt.Sprintf("%#x", mark), "err", err)
		return
	}
	w.markedResized.Add(1)
}

// effects turns the Result's effects into one nftables batch, applies it,
// updates the pinhole index and marks resized sessions (finish logs the
// effects after the verdicts).
func (w *worker) effects(now time.Time) {
	w.met.effects(w.res.Effects)
	b := w.trans.Translate(w.res.Effects)
	if !b.Empty() {
		err := w.d.applyTable(b)
		if err != nil {
			w.log.Error("nftables batch failed: pinholes not changed", "add", len(b.Add), "remove", len(b.Remove), "err", err)
		}
		for _, p := range b.Remove {
			w.d.pins.remove(p.ID)
		}
		for _, id := range b.Forget { // used: the kernel consumed them
			w.d.pins.remove(id)
		}
		if err == nil {
			for _, p := range b.Add {
				w.d.pins.add(w, p, now)
			}
		}
	}
	for i := range w.res.Effects {
		if e := &w.res.Effects[i]; e.Kind == conntrack.EffResized {
			w.markResized(e)
		}
	}
}

// logEffect writes the one log line an effect deserves.
func (w *worker) logEffect(e *conntrack.Effect) {
	switch e.Kind {
	case conntrack.EffSessionStart:
		w.log.Info("session start", "session", e.Session, "client", e.Flow.Client, "server", e.Flow.Server)
	case conntrack.EffSessionEnd:
		w.log.Info("session end", "session", e.Session, "client", e.Flow.Client, "server", e.Flow.Server, "reason", e.Reason.String())
		w.d.cache.Delete(e.Flow)
		w.d.resized.remove(e.Flow)
		delete(w.tried, e.Flow)
	case conntrack.EffOpenPinhole:
		// The one line of every transfer at info: typed attributes
		// (addresses as strings) spare the handler reflection.
		if !w.log.Enabled(context.Background(), slog.LevelInfo) {
			return
		}
		attrs := append(w.attrs[:0], slog.Uint64("session", e.Session), slog.Uint64("id", e.ID),
			slog.String("src", e.Pinhole.Src.String()), slog.String("dst", e.Pinhole.Dst.String()), slog.String("timeout", e.Timeout.String()))
		if p, ok := w.trans.Opened(e.ID); ok && p.HasMap {
			m := p.Mapping
			if m.Dst != m.ToDst {
				attrs = append(attrs, slog.String("dnat", m.Dst.String()+" -> "+m.ToDst.String()))
			}
			if m.ToSrc.IsValid() {
				attrs = append(attrs, slog.String("snat", addrString(m.Src)+" -> "+addrString(m.ToSrc)))
			}
		}
		w.log.LogAttrs(context.Background(), slog.LevelInfo, "pinhole open", attrs...)
		w.attrs = attrs[:0]
	case conntrack.EffClosePinhole:
		lvl := slog.LevelInfo
		if e.Reason == conntrack.ReasonUsed || e.Reason == conntrack.ReasonTransferDone {
			// The normal end of every transfer: at info it would double
			// the log of a busy gateway for nothing "pinhole open" did
			// not say.
			lvl = slog.LevelDebug
		}
		if !w.log.Enabled(context.Background(), lvl) {
			return
		}
		w.log.Log(context.Background(), lvl, "pinhole close", "session", e.Session, "id", e.ID, "src", e.Pinhole.Src, "dst", e.Pinhole.Dst, "reason", e.Reason.String())
	case conntrack.EffOpenRange:
		args := []any{"session", e.Session, "id", e.ID, "src", e.Range.Src, "dst", e.Range.Dst,
			"ports", strconv.Itoa(int(e.Range.Lo)) + "-" + strconv.Itoa(int(e.Range.Hi)), "timeout", e.Timeout.String()}
		if e.Range.Public.IsValid() {
			args = append(args, "dnat", e.Range.Public.String()+" -> "+e.Range.Dst.String())
		}
		w.log.Info("range open", args...)
	case conntrack.EffCloseRange:
		w.log.Info("range close", "session", e.Session, "id", e.ID, "src", e.Range.Src, "dst", e.Range.Dst, "reason", e.Reason.String())
	case conntrack.EffReset:
		w.log.Warn("reset", "session", e.Session, "client", e.Flow.Client, "server", e.Flow.Server, "reason", e.Reason.String(), "detail", e.Detail)
	case conntrack.EffOpaque:
		w.log.Info("control channel opaque (TLS): no inspection, no pinholes", "session", e.Session, "client", e.Flow.Client, "server", e.Flow.Server)
	case conntrack.EffClear:
		w.log.Info("control channel clear again", "session", e.Session)
	case conntrack.EffViolation:
		if !w.refusalLogged(e) {
			w.log.Warn("refuse", "session", e.Session, "client", e.Flow.Client, "server", e.Flow.Server, "reason", e.Reason.String(), "detail", e.Detail)
		}
	}
}

// refusalLogged reports whether an event of the same Result already
// logged this violation (with its line).
func (w *worker) refusalLogged(e *conntrack.Effect) bool {
	for i := range w.res.Events {
		ev := &w.res.Events[i]
		if ev.Decision == "refuse" && ev.Session == e.Session && ev.Reason == e.Reason {
			return true
		}
	}
	return false
}

// events logs the per-line decisions: rewrites and refusals at info and
// warn, everything else at debug.
func (w *worker) events() {
	for i := range w.res.Events {
		ev := &w.res.Events[i]
		switch {
		case ev.Decision == "refuse":
			w.log.Warn("refuse", "session", ev.Session, "client", ev.Flow.Client, "server", ev.Flow.Server, "dir", ev.Dir.String(),
				"reason", ev.Reason.String(), "line", ev.Line, "detail", ev.Detail)
		case ev.Rewrite != "":
			// At debug: the "pinhole open" line of the same announcement
			// names the mapping the rewrite announces.
			w.log.Debug("rewrite", "session", ev.Session, "dir", ev.Dir.String(), "from", ev.Line, "to", ev.Rewrite)
		default:
			if w.log.Enabled(context.Background(), slog.LevelDebug) {
				w.log.Debug("decision", "session", ev.Session, "dir", ev.Dir.String(), "decision", ev.Decision, "line", ev.Line,
					"reason", ev.Reason.String(), "detail", ev.Detail)
			}
		}
	}
}
