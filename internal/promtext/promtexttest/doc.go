// Package promtexttest reads an exposition back with Prometheus' own
// parser, for the tests of the packages that write one (promtext and
// gateway). Only tests import it, so the daemon does not link the parser.
package promtexttest
