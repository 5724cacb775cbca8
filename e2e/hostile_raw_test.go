package e2e

import (
	"strings"
	"time"
)

// Hostile cases that need segments a kernel socket never sends, played
// by the raw-socket server (rawtcp_test.go) at 10.0.0.4, published as
// 203.0.113.3.

const (
	rawTuple   = "10,0,0,4,117,48" // the raw server's own address, port 30000
	rawPasv    = "227 Entering Passive Mode (" + rawTuple + ").\r\n"
	rawPublicT = "203,0,113,3,117,48"
	// rawHostile has the length of rawPasv but names 10.0.9.4.
	rawHostile = "227 Entering Passive Mode (10,0,9,4,117,48).\r\n"
)

// rawStep wraps a function of the raw connection as a step.
func rawStep(f func(r *rawConn) error) step { return step{from: fromServer, raw: f} }

// outOfOrder sends b (the tail) before a (the head), then moves on.
func outOfOrder(a, b string) step {
	return rawStep(func(r *rawConn) error {
		if err := r.WriteAt(int64(len(a)), b, false); err != nil {
			return err
		}
		time.Sleep(40 * time.Millisecond)
		if err := r.WriteAt(0, a, false); err != nil {
			return err
		}
		r.Advance(len(a) + len(b))
		return nil
	})
}

// twice sends first as new data, then second over the same bytes.
func twice(first, second string) step {
	return rawStep(func(r *rawConn) error {
		if err := r.Write(first); err != nil {
			return err
		}
		time.Sleep(40 * time.Millisecond)
		return r.WriteAt(-int64(len(first)), second, false)
	})
}

// overlap sends a, then b starting back bytes before the end of a.
func overlap(a, b string, back int) step {
	return rawStep(func(r *rawConn) error {
		if err := r.Write(a); err != nil {
			return err
		}
		time.Sleep(40 * time.Millisecond)
		return r.WriteAt(-int64(back), b, true)
	})
}

// spoof sends text at off bytes from the next new byte (outside or
// inside the window), then the real reply at the right place.
func spoof(off int64, text, then string) step {
	return rawStep(func(r *rawConn) error {
		if err := r.WriteAt(off, text, false); err != nil {
			return err
		}
		time.Sleep(40 * time.Millisecond)
		if then == "" {
			return nil
		}
		return r.Write(then)
	})
}

func rawCases() []*hostileCase {
	// The public port may differ from 30000 if another mapping holds it.
	rawSeen := "c:(203,0,113,3,"
	legit := expect{pins: []string{"10.0.0.4:30000"}, sees: []string{rawSeen, noopOK}}
	i := strings.Index(rawPasv, "0,4,117")
	spoofed := "227 Entering Passive Mode (10,0,0,4,156,64).\r\n" // port 40000
	return []*hostileCase{
		{name: "raw-227-out-of-order", cat: "raw segments", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), outOfOrder(rawPasv[:20], rawPasv[20:])), noopQuit()),
			ftpalg: legit, kernel: expect{sees: []string{noopOK}}},
		{name: "raw-227-duplicated", cat: "raw segments", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), twice(rawPasv, rawPasv)), noopQuit()),
			ftpalg: legit, kernel: expect{sees: []string{noopOK}}},
		{name: "raw-227-retransmitted-hostile", cat: "raw segments", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), twice(rawPasv, rawHostile)), noopQuit()),
			ftpalg: expect{pins: []string{"10.0.0.4:30000"}, sees: []string{rawSeen, "!c:10,0,9,4", noopOK}},
			kernel: expect{sees: []string{noopOK}}},
		{name: "raw-227-hostile-then-retransmitted-legit", cat: "raw segments", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), twice(rawHostile, rawPasv)), noopQuit()),
			ftpalg: expect{sees: []string{"c:425 Entering Passive Mode", noopOK}, log: []string{"refuse/bounce"}},
			kernel: expect{sees: []string{noopOK}}},
		// The client keeps "(10,0,9" of the first segment and takes
		// ",4,117,48)" from the second, which rewrites the 9 as 0: an
		// inspector that believed the second copy would see 10.0.0.4.
		{name: "raw-227-overlap-different-bytes", cat: "raw segments", server: srvRaw,
			steps: script(login(), steps(CL("PASV"),
				overlap(rawHostile[:i+1], rawPasv[i:], 1)), noopQuit()),
			ftpalg: expect{sees: []string{"c:425 Entering Passive Mode", noopOK}, log: []string{"refuse/bounce"}},
			kernel: expect{sees: []string{noopOK}}},
		{name: "raw-227-spoofed-ahead-of-window", cat: "spoofing", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), spoof(1_000_000, spoofed, rawPasv)), noopQuit()),
			ftpalg: expect{pins: []string{"10.0.0.4:30000"}, sees: []string{rawSeen, "!c:156,64", noopOK}},
			kernel: expect{sees: []string{noopOK}}},
		{name: "raw-227-spoofed-behind-window", cat: "spoofing", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), spoof(-1_000_000, spoofed, rawPasv)), noopQuit()),
			ftpalg: expect{pins: []string{"10.0.0.4:30000"}, sees: []string{rawSeen, "!c:156,64", noopOK}},
			kernel: expect{sees: []string{noopOK}}},
		// The same, but the spoofed segment starts with a line end, so
		// that a 227 line starts inside it; it names a port the server
		// never announced (40000) and arrives before the real reply.
		{name: "raw-227-spoofed-line-ahead-of-window", cat: "spoofing", server: srvRaw,
			steps: script(login(), steps(CL("PASV"), spoof(1_000_000, "x\r\n"+spoofed, ""),
				rawStep(func(*rawConn) error { time.Sleep(400 * time.Millisecond); return nil }),
				rawStep(func(r *rawConn) error { return r.Write(rawPasv) })), noopQuit()),
			ftpalg: expect{pins: []string{"10.0.0.4:30000"}, sees: []string{rawSeen, "!c:156,64", noopOK}},
			kernel: expect{sees: []string{noopOK}}},
		// The same with an ACK number a blind spoofer would guess (2^28
		// ahead of the right one).
		{name: "raw-227-spoofed-line-ahead-wrong-ack", cat: "spoofing", server: srvRaw,
			steps: script(login(), steps(CL("PASV"),
				rawStep(func(r *rawConn) error { return r.WriteAtAck(1_000_000, "x\r\n"+spoofed, 1<<28) }),
				rawStep(func(*rawConn) error { time.Sleep(400 * time.Millisecond); return nil }),
				rawStep(func(r *rawConn) error { return r.Write(rawPasv) })), noopQuit()),
			ftpalg: expect{pins: []string{"10.0.0.4:30000"}, sees: []string{rawSeen, "!c:156,64", noopOK}},
			kernel: expect{sees: []string{noopOK}}},
		// Inside the window but beyond a gap that is never filled: the
		// client never reads it.
		{name: "raw-227-spoofed-beyond-gap", cat: "spoofing", server: srvRaw,
			steps:  script(login(), steps(CL("PASV"), spoof(2000, spoofed, ""), rawStep(func(*rawConn) error { time.Sleep(400 * time.Millisecond); return nil }))),
			ftpalg: expect{sees: []string{"!c:156,64"}},
			kernel: expect{}},
	}
}
