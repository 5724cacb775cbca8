package gateway

import "testing"

func TestProcsFor(t *testing.T) {
	for _, tc := range []struct {
		queues, current int
		env             string
		want            int
	}{
		{1, 2, "", 1},   // one queue on two CPUs: one P
		{2, 2, "", 2},   // a P per queue
		{4, 2, "", 2},   // never more than the CPUs ftpalg may use
		{3, 8, "", 3},   // a P per queue on a bigger machine
		{0, 4, "", 1},   // at least one
		{1, 2, "2", 0},  // GOMAXPROCS in the environment: left alone
		{4, 8, "16", 0}, // even above the CPU count
	} {
		if got := procsFor(tc.queues, tc.current, tc.env); got != tc.want {
			t.Errorf("procsFor(queues %d, current %d, env %q) = %d, want %d", tc.queues, tc.current, tc.env, got, tc.want)
		}
	}
}
