package rules

import "fmt"

// Interface is the one seam in front of ftpalg's table: Table carries it
// out in the kernel, Memory models it (for replay and tests), with the
// same Changes (built from effects by Translator).
type Interface interface {
	// Apply carries out one decision's Change, all of it or none.
	Apply(Change) error
	// Live lists the elements the table holds (by its own clock), by ID.
	Live() []Pin
	// Present reports whether the table still exists (an "nft flush
	// ruleset" removes it).
	Present() (bool, error)
	// Rebuild builds the table afresh with pins.
	Rebuild([]Pin) error
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
