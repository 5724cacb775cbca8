package testmode

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		e2e, ci string
		want    Mode
		err     bool
	}{
		{"", "", Skip, false},
		{"skip", "", Skip, false},
		{"require", "", Require, false},
		{"require", "true", Require, false},
		{"off", "", Require, true}, // removed: it made the whole e2e package exit 0
		{"1", "", Require, true},
		{"", "true", Require, true}, // CI without require
		{"skip", "true", Require, true},
		{"off", "true", Require, true},
		{"skip", "false", Skip, false},
	} {
		m, err := Parse(tc.e2e, tc.ci)
		if m != tc.want || (err != nil) != tc.err {
			t.Errorf("Parse(FTPALG_E2E=%q, CI=%q) = %v, %v; want %v, error %v", tc.e2e, tc.ci, m, err, tc.want, tc.err)
		}
	}
}
