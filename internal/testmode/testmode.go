// Package testmode reads FTPALG_E2E, which says what the privileged and
// corpus tests do when a prerequisite is missing:
//
//	FTPALG_E2E=require   fail (scripts/test sets it unless told otherwise)
//	FTPALG_E2E=skip      skip (also when unset)
//
// Any other value is an error. Under CI (CI=true, as .ci/run runs), any
// value other than require is an error, so CI can never skip these tests.
package testmode

import (
	"fmt"
	"os"
)

// Mode is what a missing prerequisite does.
type Mode int

const (
	Skip    Mode = iota // skip the test
	Require             // fail the test
)

// Parse checks the values of FTPALG_E2E and CI.
func Parse(e2e, ci string) (Mode, error) {
	switch {
	case e2e == "require":
		return Require, nil
	case ci == "true":
		return Require, fmt.Errorf("FTPALG_E2E=%q under CI=true: CI must run with FTPALG_E2E=require, so that no test can skip", e2e)
	case e2e == "" || e2e == "skip":
		return Skip, nil
	}
	return Require, fmt.Errorf("FTPALG_E2E=%q: want require or skip (or unset)", e2e)
}

// Get is Parse of the environment.
func Get() (Mode, error) { return Parse(os.Getenv("FTPALG_E2E"), os.Getenv("CI")) }

// Strict reports whether a missing prerequisite must fail the test. A bad
// FTPALG_E2E/CI combination counts as strict, and is reported by
// TB.Fatal wherever Strict is asked.
func Strict() bool {
	m, _ := Get()
	return m == Require
}

// TB is the part of testing.TB Check needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Check fails t if FTPALG_E2E and CI are a bad combination.
func Check(t TB) {
	t.Helper()
	if _, err := Get(); err != nil {
		t.Fatalf("%v", err)
	}
}
