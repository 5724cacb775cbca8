// Package promtext writes the Prometheus text exposition format (version
// 0.0.4): families of counters, gauges and histograms with their HELP and
// TYPE lines, labels escaped, values as Prometheus' own client writes
// them. It is what ftpalg's /metrics serves, in place of the Prometheus
// Go client, which cost the daemon about 4 MB of its 13 MB binary (the
// client, protobuf and procfs) for a handful of const metrics: on a
// router with 16 MB of flash that matters.
//
// It is a pure package (no I/O): a Writer appends to a byte slice. The
// tests check its output with Prometheus' own parser and linter.
package promtext
