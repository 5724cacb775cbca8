package gateway

// Prometheus metrics (config metrics.listen). The packet path only bumps
// plain counters of its own worker (workerCounts.cur): no atomics, no
// maps, no labels, no allocation. Each tick (50 ms) the worker copies them
// to workerCounts.pub under worker.mu, where a scrape reads them, so it
// sees the workers as of their last tick. Counters of rare events shared
// by several goroutines (nftables batches, table restores) are atomics of
// the engine. A scrape writes the exposition text itself
// (internal/promtext, writeMetrics): nothing is registered per packet,
// session or address, and the daemon links no Prometheus client.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/internal/promtext"
	"github.com/ftpalg/ftpalg/rules"
	"golang.org/x/sync/errgroup"
)

// decisionBounds are the upper bounds of ftpalg_decision_seconds'
// buckets: a decision takes about a microsecond, one with a table batch
// a millisecond or more.
var decisionBounds = [...]time.Duration{
	time.Microsecond, 2500 * time.Nanosecond, 5 * time.Microsecond,
	10 * time.Microsecond, 25 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 150 * time.Microsecond, 200 * time.Microsecond,
	250 * time.Microsecond, 300 * time.Microsecond, 400 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
}

// batchBounds are the upper bounds of ftpalg_nft_batch_seconds' buckets.
var batchBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second,
}

// decisionHist is a histogram of durations with one writer.
type decisionHist struct {
	counts [len(decisionBounds) + 1]uint64 // the last: above every bound
	sum    time.Duration
}

func (h *decisionHist) observe(d time.Duration) {
	i := 0
	for i < len(decisionBounds) && d > decisionBounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += d
}

func (h *decisionHist) add(o *decisionHist) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.sum += o.sum
}

// batchHist is a histogram of durations safe for concurrent writers.
type batchHist struct {
	counts [len(batchBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

func (h *batchHist) observe(d time.Duration) {
	i := 0
	for i < len(batchBounds) && d > batchBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// byReason counts by conntrack.Reason, a uint8: indexing needs no check.
type byReason [256]uint64

func (r *byReason) add(o *byReason) {
	for i := range r {
		r[i] += o[i]
	}
}

func (r *byReason) total() uint64 {
	var n uint64
	for _, v := range r {
		n += v
	}
	return n
}

// workerCounts is what one worker counts. Only the holder of the worker's
// busy mutex (its queue's reader or its own goroutine)
// writes it.
type workerCounts struct {
	// verdicts counts each verdict sent, by conntrack.Verdict: a packet
	// counts once with its own verdict, or as Hold and later once more
	// with the verdict of its release.
	verdicts [4]uint64
	released uint64 // held packets released (each also counted in verdicts)
	decision decisionHist
	// announce: the decisions of packets that opened a pinhole or a
	// range (the table batch included), also counted in decision.
	announce decisionHist

	sessionsStarted, sessionsResized uint64
	sessionsEnded                    byReason
	pinholesOpened, rangesOpened     uint64
	pinholesClosed, rangesClosed     byReason
	refusals, resets                 byReason
}

func (c *workerCounts) add(o *workerCounts) {
	for i := range c.verdicts {
		c.verdicts[i] += o.verdicts[i]
	}
	c.released += o.released
	c.decision.add(&o.decision)
	c.announce.add(&o.announce)
	c.sessionsStarted += o.sessionsStarted
	c.sessionsResized += o.sessionsResized
	c.sessionsEnded.add(&o.sessionsEnded)
	c.pinholesOpened += o.pinholesOpened
	c.rangesOpened += o.rangesOpened
	c.pinholesClosed.add(&o.pinholesClosed)
	c.rangesClosed.add(&o.rangesClosed)
	c.refusals.add(&o.refusals)
	c.resets.add(&o.resets)
}

// workerMetrics is a worker's counters: cur, its goroutine's own, and
// pub, the copy of cur at its last tick, guarded by worker.mu.
type workerMetrics struct {
	cur, pub workerCounts
}

// verdict counts one verdict sent.
func (m *workerMetrics) verdict(v conntrack.Verdict) { m.cur.verdicts[v&3]++ }

// effects counts what a Result's effects did.
func (m *workerMetrics) effects(es []conntrack.Effect) {
	c := &m.cur
	for i := range es {
		e := &es[i]
		switch e.Kind {
		case conntrack.EffSessionStart:
			c.sessionsStarted++
		case conntrack.EffSessionEnd:
			c.sessionsEnded[e.Reason]++
		case conntrack.EffResized:
			c.sessionsResized++
		case conntrack.EffOpenPinhole:
			c.pinholesOpened++
		case conntrack.EffClosePinhole:
			c.pinholesClosed[e.Reason]++
		case conntrack.EffOpenRange:
			c.rangesOpened++
		case conntrack.EffCloseRange:
			c.rangesClosed[e.Reason]++
		case conntrack.EffViolation:
			c.refusals[e.Reason]++
		case conntrack.EffReset:
			c.resets[e.Reason]++
		}
	}
}

// engineMetrics counts what the workers and the watchdog share.
type engineMetrics struct {
	nftBatches, nftErrors, tableRestores atomic.Uint64
	nftSeconds                           batchHist
}

func (m *engineMetrics) batch(d time.Duration, err error) {
	m.nftBatches.Add(1)
	if err != nil {
		m.nftErrors.Add(1)
	}
	m.nftSeconds.observe(d)
}

// applyTable applies one Change to the table as one nftables batch,
// counted and timed. A Change that only forgets pins the kernel consumed
// sends no batch, and is not counted.
func (d *Engine) applyTable(c rules.Change) error {
	if !c.Sends() {
		return d.table.Apply(c)
	}
	start := time.Now()
	err := d.table.Apply(c)
	d.met.batch(time.Since(start), err)
	return err
}

// rebuildTable puts the table back with pins, counted and timed as a
// batch; a success counts as a restore.
func (d *Engine) rebuildTable(pins []rules.Pin) error {
	start := time.Now()
	err := d.table.Rebuild(pins)
	d.met.batch(time.Since(start), err)
	if err == nil {
		d.met.tableRestores.Add(1)
	}
	return err
}

// fam is one of ftpalg's metric families.
func fam(name string, typ promtext.Type, help string) *promtext.Family {
	return &promtext.Family{Name: "ftpalg_" + name, Help: help, Type: typ}
}

// ftpalg's metric families, in the order of the exposition. Their label
// names are at the Sample calls in writeMetrics.
var (
	famPackets         = fam("packets_total", promtext.Counter, "Queued control packets by the verdict they got (held packets count once, when released).")
	famQueueOverruns   = fam("queue_overruns_total", promtext.Counter, "Receive buffer overruns (ENOBUFS) of the queue's netlink socket.")
	famQueueLost       = fam("queue_lost_total", promtext.Counter, "Packets the kernel could not hand over to the queue (gaps in packet IDs).")
	famDecision        = fam("decision_seconds", promtext.Histogram, "Time from the queue's reader receiving a packet to its verdict (or to holding it), table batch included.")
	famAnnounce        = fam("announce_seconds", promtext.Histogram, "Time from the queue's reader receiving a packet that opens a pinhole or range to its verdict: inspection, the nftables batch, the verdict.")
	famRewrites        = fam("rewrites_total", promtext.Counter, "Announcements rewritten for NAT.")
	famRefusals        = fam("refusals_total", promtext.Counter, "Refusals (announcements and AUTH refused, TLS violations) by reason.")
	famResets          = fam("resets_total", promtext.Counter, "Sessions reset by reason (policy.violation: reset, tls: block).")
	famPinOpened       = fam("pinholes_opened_total", promtext.Counter, "Pinholes opened for a data connection.")
	famPinClosed       = fam("pinholes_closed_total", promtext.Counter, "Pinholes closed by reason (used, expired, transfer-done, ...).")
	famPinActive       = fam("pinholes_active", promtext.Gauge, "Pinholes open now.")
	famRangeOpened     = fam("ranges_opened_total", promtext.Counter, "Passive-range pinholes opened (tls: passthrough-range).")
	famRangeClosed     = fam("ranges_closed_total", promtext.Counter, "Passive-range pinholes closed by reason.")
	famRangeActive     = fam("ranges_active", promtext.Gauge, "Passive-range pinholes open now.")
	famSessStarted     = fam("sessions_started_total", promtext.Counter, "Control sessions started.")
	famSessEnded       = fam("sessions_ended_total", promtext.Counter, "Control sessions ended by reason (quit, reset, expired, session-end, ...).")
	famSessActive      = fam("sessions_active", promtext.Gauge, "Control sessions started and not ended.")
	famSessResized     = fam("sessions_resized_total", promtext.Counter, "Sessions whose stream length a rewrite changed (sequence numbers adjusted until they end).")
	famMarkErrors      = fam("resized_mark_errors_total", promtext.Counter, "Resized sessions whose conntrack mark and be_liberal could not be set.")
	famHeld            = fam("held_segments", promtext.Gauge, "Segments held back now (incomplete announcement lines, out-of-order data).")
	famCtEvents        = fam("conntrack_events_total", promtext.Counter, "Conntrack events received (what the event socket's filter let through).")
	famCtIgnored       = fam("conntrack_events_ignored_total", promtext.Counter, "Conntrack events received that concerned neither a control connection nor a pinhole's data connection.")
	famCtOverruns      = fam("conntrack_overruns_total", promtext.Counter, "Receive buffer overruns of the conntrack event socket (events lost).")
	famNftBatches      = fam("nft_batches_total", promtext.Counter, "nftables batches sent (pinholes, NAT maps, resets, table rebuilds).")
	famNftErrors       = fam("nft_errors_total", promtext.Counter, "nftables batches that failed.")
	famNftBatchSeconds = fam("nft_batch_seconds", promtext.Histogram, "Time to send an nftables batch and get its answer.")
	famTableRestores   = fam("table_restores_total", promtext.Counter, "Times the watchdog put back a deleted table.")
)

// The verdicts packets_total has a series for (Hold is not final).
var finalVerdicts = [...]conntrack.Verdict{conntrack.Accept, conntrack.AcceptModified, conntrack.Drop}

// Histogram bounds in seconds, for the exposition.
var (
	decisionBoundsSec = boundsSec(decisionBounds[:])
	batchBoundsSec    = boundsSec(batchBounds[:])
)

func boundsSec(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// writeMetrics writes ftpalg's own metrics: the workers as of their last
// tick, the engine's counters as of now. Series by reason are written
// only for reasons that occurred.
func (d *Engine) writeMetrics(w *promtext.Writer) {
	single := func(f *promtext.Family, v uint64) { // a counter or gauge without labels
		w.Begin(f)
		w.Sample(f.Name, float64(v))
	}
	reasons := func(f *promtext.Family, r *byReason) {
		w.Begin(f)
		for i, v := range r {
			if v != 0 {
				w.Sample(f.Name, float64(v), "reason", conntrack.Reason(i).String())
			}
		}
	}

	sum := new(workerCounts)
	var rewrites, markErrors uint64
	type queueStats struct {
		q              string
		verdicts       [len(finalVerdicts)]uint64
		lost, overruns uint64
	}
	qs := make([]queueStats, len(d.workers))
	for i, wk := range d.workers {
		st := &qs[i]
		st.q = strconv.Itoa(int(d.cfg.Queue.Num) + wk.idx)
		wk.mu.Lock()
		wc := wk.met.pub
		rewrites += wk.trStats.Rewrites
		wk.mu.Unlock()
		for j, v := range finalVerdicts {
			st.verdicts[j] = wc.verdicts[v]
		}
		if wk.queue != nil {
			s := wk.queue.Stats()
			st.lost, st.overruns = s.Lost, s.Overruns
		}
		markErrors += wk.markErrors.Load()
		sum.add(&wc)
	}
	w.Begin(famPackets)
	for _, st := range qs {
		for j, v := range finalVerdicts {
			w.Sample(famPackets.Name, float64(st.verdicts[j]), "queue", st.q, "verdict", v.String())
		}
	}
	w.Begin(famQueueOverruns)
	for _, st := range qs {
		w.Sample(famQueueOverruns.Name, float64(st.overruns), "queue", st.q)
	}
	w.Begin(famQueueLost)
	for _, st := range qs {
		w.Sample(famQueueLost.Name, float64(st.lost), "queue", st.q)
	}

	w.Begin(famDecision)
	w.Histogram(famDecision.Name, decisionBoundsSec, sum.decision.counts[:], sum.decision.sum.Seconds())
	w.Begin(famAnnounce)
	w.Histogram(famAnnounce.Name, decisionBoundsSec, sum.announce.counts[:], sum.announce.sum.Seconds())
	single(famRewrites, rewrites)
	reasons(famRefusals, &sum.refusals)
	reasons(famResets, &sum.resets)
	single(famPinOpened, sum.pinholesOpened)
	reasons(famPinClosed, &sum.pinholesClosed)
	single(famPinActive, sum.pinholesOpened-sum.pinholesClosed.total())
	single(famRangeOpened, sum.rangesOpened)
	reasons(famRangeClosed, &sum.rangesClosed)
	single(famRangeActive, sum.rangesOpened-sum.rangesClosed.total())
	single(famSessStarted, sum.sessionsStarted)
	reasons(famSessEnded, &sum.sessionsEnded)
	single(famSessActive, sum.sessionsStarted-sum.sessionsEnded.total())
	single(famSessResized, sum.sessionsResized)
	single(famMarkErrors, markErrors)
	single(famHeld, sum.verdicts[conntrack.Hold]-sum.released)
	single(famCtEvents, d.ctStats.Events.Load())
	single(famCtIgnored, d.ctStats.Ignored.Load())
	single(famCtOverruns, d.ctStats.Overruns.Load())
	single(famNftBatches, d.met.nftBatches.Load())
	single(famNftErrors, d.met.nftErrors.Load())
	var batch [len(batchBounds) + 1]uint64
	for i := range batch {
		batch[i] = d.met.nftSeconds.counts[i].Load()
	}
	w.Begin(famNftBatchSeconds)
	w.Histogram(famNftBatchSeconds.Name, batchBoundsSec, batch[:], time.Duration(d.met.nftSeconds.sum.Load()).Seconds())
	single(famTableRestores, d.met.tableRestores.Load())
}

// metricsServer is the HTTP server of /metrics: its listener is bound at
// the start of Run, so that an address in use stops ftpalg before it
// touches the kernel, and it serves once the workers and queues exist.
type metricsServer struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
	g   errgroup.Group
}

// listenMetrics binds metrics.listen; nil without it.
func (d *Engine) listenMetrics() (*metricsServer, error) {
	addr := d.cfg.Metrics.Listen
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EAFNOSUPPORT) {
		return nil, fmt.Errorf("metrics: %w (under systemd, the unit's RestrictAddressFamilies must allow AF_INET and AF_INET6: see README, Metrics)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return d.newMetricsServer(ln), nil
}

// newMetricsServer returns the server of /metrics on ln.
func (d *Engine) newMetricsServer(ln net.Listener) *metricsServer {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metricsHandler())
	if d.cfg.Metrics.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return &metricsServer{
		ln:  ln,
		log: d.log,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      2 * time.Minute, // a CPU profile or trace streams for its seconds=

			IdleTimeout: time.Minute,
			ErrorLog:    slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		},
	}
}

// serve runs the server as a long-lived task until stop.
func (m *metricsServer) serve() {
	if m == nil {
		return
	}
	m.log.Info("metrics", "listen", m.ln.Addr().String(), "path", "/metrics")
	m.g.Go(func() error {
		if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics server stopped: no more metrics", "err", err)
		}
		return nil
	})
}

// stop shuts the server down (waiting up to 2 s for scrapes in flight)
// and waits for it; the listener is closed whether or not it served.
func (m *metricsServer) stop() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		m.srv.Close()
	}
	m.ln.Close() // Shutdown closes it only if Serve ran
	m.g.Wait()
}

// maxScrapes is how many scrapes /metrics serves at once; more get 503.
const maxScrapes = 4

// metricsHandler serves the exposition: ftpalg's metrics, then the
// process's and the Go runtime's (runtimemetrics.go). It is never
// compressed: a gzip writer allocates about 800 KB of state per scrape
// for a body of about 10 KB, and Prometheus takes it uncompressed.
func (d *Engine) metricsHandler() *metricsHandler {
	return &metricsHandler{d: d, inflight: make(chan struct{}, maxScrapes),
		writers: sync.Pool{New: func() any { return new(promtext.Writer) }}}
}

type metricsHandler struct {
	d        *Engine
	inflight chan struct{} // one token a scrape being served
	writers  sync.Pool     // of *promtext.Writer: a scrape's buffer is reused
}

func (m *metricsHandler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	select {
	case m.inflight <- struct{}{}:
		defer func() { <-m.inflight }()
	default:
		http.Error(rw, fmt.Sprintf("more than %d scrapes at once", maxScrapes), http.StatusServiceUnavailable)
		return
	}
	w := m.writers.Get().(*promtext.Writer)
	defer m.writers.Put(w)
	w.Reset()
	m.d.writeMetrics(w)
	writeRuntimeMetrics(w)
	h := rw.Header()
	h.Set("Content-Type", promtext.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(w.Bytes())))
	if _, err := rw.Write(w.Bytes()); err != nil {
		m.d.log.Debug("metrics: scrape not answered", "err", err)
	}
}
