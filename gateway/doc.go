// Package gateway is ftpalg's running engine: it binds the queues (package
// nfq), keeps the table (package rules), listens to conntrack (package
// ctnetlink) and feeds every control packet through a conntrack.Tracker,
// carrying out what the Tracker decides before the packet's verdict.
//
//   - Engine: New(cfg, log).Run(ctx). The long-lived tasks, a worker per
//     queue and the conntrack event listener, run under errgroups; Run
//     itself runs the watchdog that rebuilds a flushed table.
//   - A worker owns one queue's Tracker. The queue's reader decides each
//     packet itself, with no hand-off: it applies the Result's table
//     Change (built by rules.Translator) and conntrack updates (a resized
//     session's mark and be_liberal) before its verdicts. The worker's own
//     goroutine takes control messages (pinhole used, flow ended) from its
//     inbox and ticks; a mutex per worker serialises the two, so a queue
//     never waits on another queue's work.
//   - The pinhole index knows which worker owns each element (to route
//     conntrack events) and what a rebuild must put back.
//   - The conntrack event socket carries a filter (ctfilter.go,
//     ctnetlink.Filter) built from the control ports and the pinhole
//     mark, so that only control connections' events and marked data
//     connections' NEW events wake the listener; a reload that changes
//     the control ports replaces it.
//   - Metrics (metrics.go, config metrics.listen): each worker counts in
//     plain counters of its own and publishes them every tick; a scrape
//     writes them, with the process's and the Go runtime's metrics
//     (runtimemetrics.go), as exposition text (internal/promtext), and
//     the /metrics HTTP server is one more task of Run.
//
// The kernel is reached through three seams (the table, conntrack and the
// verdicts), each with a recording fake in the tests (worker_test.go).
package gateway
