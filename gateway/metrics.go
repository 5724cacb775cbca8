package gateway

// Prometheus metrics (config metrics.listen). The packet path only bumps
// plain counters of its own worker (workerCounts.cur): no atomics, no
// maps, no labels, no allocation. Each tick (50 ms) the worker copies them
// to workerCounts.pub under worker.mu, where the collector reads them on a
// scrape, so a scrape sees the workers as of their last tick. Counters of
// rare events shared by several goroutines (nftables batches, table
// restores) are atomics of the engine. Everything is turned into const
// metrics on scrape by one prometheus.Collector; nothing is registered
// per packet, session or address.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/rules"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ftpalg_"+name, help, labels, nil)
}

// The metrics, all prefixed ftpalg_. No label carries an address.
var (
	descPackets         = newDesc("packets_total", "Queued control packets by the verdict they got (held packets count once, when released).", "queue", "verdict")
	descQueueOverruns   = newDesc("queue_overruns_total", "Receive buffer overruns (ENOBUFS) of the queue's netlink socket.", "queue")
	descQueueLost       = newDesc("queue_lost_total", "Packets the kernel could not hand over to the queue (gaps in packet IDs).", "queue")
	descDecision        = newDesc("decision_seconds", "Time from the queue's reader receiving a packet to its verdict (or to holding it), table batch included.")
	descAnnounce        = newDesc("announce_seconds", "Time from the queue's reader receiving a packet that opens a pinhole or range to its verdict: inspection, the nftables batch, the verdict.")
	descRewrites        = newDesc("rewrites_total", "Announcements rewritten for NAT.")
	descRefusals        = newDesc("refusals_total", "Refusals (announcements and AUTH refused, TLS violations) by reason.", "reason")
	descResets          = newDesc("resets_total", "Sessions reset by reason (policy.violation: reset, tls: block).", "reason")
	descPinOpened       = newDesc("pinholes_opened_total", "Pinholes opened for a data connection.")
	descPinClosed       = newDesc("pinholes_closed_total", "Pinholes closed by reason (used, expired, transfer-done, ...).", "reason")
	descPinActive       = newDesc("pinholes_active", "Pinholes open now.")
	descRangeOpened     = newDesc("ranges_opened_total", "Passive-range pinholes opened (tls: passthrough-range).")
	descRangeClosed     = newDesc("ranges_closed_total", "Passive-range pinholes closed by reason.", "reason")
	descRangeActive     = newDesc("ranges_active", "Passive-range pinholes open now.")
	descSessStarted     = newDesc("sessions_started_total", "Control sessions started.")
	descSessEnded       = newDesc("sessions_ended_total", "Control sessions ended by reason (quit, reset, expired, session-end, ...).", "reason")
	descSessActive      = newDesc("sessions_active", "Control sessions started and not ended.")
	descSessResized     = newDesc("sessions_resized_total", "Sessions whose stream length a rewrite changed (sequence numbers adjusted until they end).")
	descMarkErrors      = newDesc("resized_mark_errors_total", "Resized sessions whose conntrack mark and be_liberal could not be set.")
	descHeld            = newDesc("held_segments", "Segments held back now (incomplete announcement lines, out-of-order data).")
	descCtEvents        = newDesc("conntrack_events_total", "Conntrack events received (what the event socket's filter let through).")
	descCtIgnored       = newDesc("conntrack_events_ignored_total", "Conntrack events received that concerned neither a control connection nor a pinhole's data connection.")
	descCtOverruns      = newDesc("conntrack_overruns_total", "Receive buffer overruns of the conntrack event socket (events lost).")
	descNftBatches      = newDesc("nft_batches_total", "nftables batches sent (pinholes, NAT maps, resets, table rebuilds).")
	descNftErrors       = newDesc("nft_errors_total", "nftables batches that failed.")
	descNftBatchSeconds = newDesc("nft_batch_seconds", "Time to send an nftables batch and get its answer.")
	descTableRestores   = newDesc("table_restores_total", "Times the watchdog put back a deleted table.")
)

var allDescs = []*prometheus.Desc{
	descPackets, descQueueOverruns, descQueueLost, descDecision, descAnnounce,
	descRewrites, descRefusals, descResets, descPinOpened, descPinClosed, descPinActive,
	descRangeOpened, descRangeClosed, descRangeActive, descSessStarted, descSessEnded,
	descSessActive, descSessResized, descMarkErrors, descHeld, descCtEvents, descCtIgnored, descCtOverruns,
	descNftBatches, descNftErrors, descNftBatchSeconds, descTableRestores,
}

// The verdicts packets_total has a series for (Hold is not final).
var finalVerdicts = [...]conntrack.Verdict{conntrack.Accept, conntrack.AcceptModified, conntrack.Drop}

// collector is the engine's prometheus.Collector.
type collector struct{ d *Engine }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v))
	}
	// byReason series exist only for reasons that occurred.
	reasons := func(desc *prometheus.Desc, r *byReason) {
		for i, v := range r {
			if v != 0 {
				counter(desc, v, conntrack.Reason(i).String())
			}
		}
	}

	sum := new(workerCounts)
	var rewrites, markErrors uint64
	for _, w := range d.workers {
		q := strconv.Itoa(int(d.cfg.Queue.Num) + w.idx)
		w.mu.Lock()
		wc := w.met.pub
		rewrites += w.trStats.Rewrites
		w.mu.Unlock()
		for _, v := range finalVerdicts {
			counter(descPackets, wc.verdicts[v], q, v.String())
		}
		var lost, overruns uint64
		if w.queue != nil {
			st := w.queue.Stats()
			lost, overruns = st.Lost, st.Overruns
		}
		counter(descQueueOverruns, overruns, q)
		counter(descQueueLost, lost, q)
		markErrors += w.markErrors.Load()
		sum.add(&wc)
	}

	ch <- prometheus.MustNewConstHistogram(descDecision, histCount(sum.decision.counts[:]), sum.decision.sum.Seconds(),
		histBuckets(decisionBounds[:], sum.decision.counts[:]))
	ch <- prometheus.MustNewConstHistogram(descAnnounce, histCount(sum.announce.counts[:]), sum.announce.sum.Seconds(),
		histBuckets(decisionBounds[:], sum.announce.counts[:]))
	counter(descRewrites, rewrites)
	reasons(descRefusals, &sum.refusals)
	reasons(descResets, &sum.resets)
	counter(descPinOpened, sum.pinholesOpened)
	reasons(descPinClosed, &sum.pinholesClosed)
	gauge(descPinActive, sum.pinholesOpened-sum.pinholesClosed.total())
	counter(descRangeOpened, sum.rangesOpened)
	reasons(descRangeClosed, &sum.rangesClosed)
	gauge(descRangeActive, sum.rangesOpened-sum.rangesClosed.total())
	counter(descSessStarted, sum.sessionsStarted)
	reasons(descSessEnded, &sum.sessionsEnded)
	gauge(descSessActive, sum.sessionsStarted-sum.sessionsEnded.total())
	counter(descSessResized, sum.sessionsResized)
	counter(descMarkErrors, markErrors)
	gauge(descHeld, sum.verdicts[conntrack.Hold]-sum.released)
	counter(descCtEvents, d.ctStats.Events.Load())
	counter(descCtIgnored, d.ctStats.Ignored.Load())
	counter(descCtOverruns, d.ctStats.Overruns.Load())
	counter(descNftBatches, d.met.nftBatches.Load())
	counter(descNftErrors, d.met.nftErrors.Load())
	var batch [len(batchBounds) + 1]uint64
	for i := range batch {
		batch[i] = d.met.nftSeconds.counts[i].Load()
	}
	ch <- prometheus.MustNewConstHistogram(descNftBatchSeconds, histCount(batch[:]),
		time.Duration(d.met.nftSeconds.sum.Load()).Seconds(), histBuckets(batchBounds[:], batch[:]))
	counter(descTableRestores, d.met.tableRestores.Load())
}

func histCount(counts []uint64) uint64 {
	var n uint64
	for _, v := range counts {
		n += v
	}
	return n
}

// histBuckets turns per-bucket counts into Prometheus' cumulative
// buckets by upper bound in seconds (+Inf is implied).
func histBuckets(bounds []time.Duration, counts []uint64) map[float64]uint64 {
	m := make(map[float64]uint64, len(bounds))
	var n uint64
	for i, b := range bounds {
		n += counts[i]
		m[b.Seconds()] = n
	}
	return m
}

// registry returns a registry with the engine's metrics and the Go
// client's standard process and Go runtime collectors.
func (d *Engine) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d},
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector())
	return reg
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry(), promhttp.HandlerOpts{
		ErrorLog:            promLogger{d.log},
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
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

// promLogger logs the metrics handler's errors.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("metrics", "err", fmt.Sprint(v...)) }
