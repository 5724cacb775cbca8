package conntrack

// Length-preserving rewrites (issue 10). A rewrite that changes the
// length of the stream ties the session's sequence numbers to the Tracker
// until it ends (EffResized); one that keeps it leaves them the kernel's,
// so the session outlives ftpalg. What the grammar lets us keep:
//
//   - 227: RFC 1123 section 4.1.2.6 has clients scan the reply for the six
//     numbers, so the text between the code and the numbers is free. It
//     absorbs the difference: shortened by whole words, down to nothing
//     ("227 (h1,h2,h3,h4,p1,p2)."), or padded with spaces. The
//     parentheses and the trailing text stay as the server sent them.
//     The clients checked are listed in CLIENTS.md.
//   - 229: only the port may change. A public port with the same number
//     of digits is chosen where one is free; otherwise the free text
//     before "(" absorbs the difference as for 227.
//   - PORT/EPRT from a translated client: there is no free text, so a
//     public port is chosen whose digits make the new argument exactly
//     as long as the old one; where none fits, the line is resized.
//   - Refusals: an argument of n bytes is replaced by n bytes of
//     refusedFill, which every server rejects (REFUSALS.md).

// span locates an announcement's field in its line (off, n) and, for
// replies, the free text before it (freeOff, freeN) that may absorb a
// change of the field's length.
type span struct {
	off, n         int
	hasFree        bool
	freeOff, freeN int
}

// keeps reports whether replacing the field by m bytes can keep the
// line's length: exactly, or through the free text.
func (sp span) keeps(m int) bool {
	d := m - sp.n
	return d == 0 || sp.hasFree && sp.freeN-d >= 0
}

// replySpan is the span of a 227/229 field at text[start:end], where text
// starts at textOff in the line. The free text runs from the start of
// text to the field, less the last "(" before it and what follows (229:
// "(|||") that clients look for.
func replySpan(line []byte, textOff, start, end int) span {
	sp := span{off: textOff + start, n: end - start, hasFree: true, freeOff: textOff}
	fe := sp.off
	if i := lastIndexByte(line[textOff:sp.off], '('); i >= 0 {
		fe = textOff + i
	}
	sp.freeN = fe - sp.freeOff
	return sp
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// appendFree appends a free text of exactly n bytes in place of free:
// free itself padded with spaces when it is not longer, else its longest
// run of whole leading words that fits ("Entering Passive Mode " becomes
// "Entering Passive "), padded with spaces.
func appendFree(dst, free []byte, n int) []byte {
	text := free
	if len(free) > n {
		text = free[:0]
		for i := 0; i < n; i++ {
			if free[i] == ' ' {
				text = free[:i+1]
			}
		}
	}
	dst = append(dst, text...)
	for i := len(text); i < n; i++ {
		dst = append(dst, ' ')
	}
	return dst
}

// sameLength renders the replacement of line's span by field, keeping the
// line's length, into dst: it returns the new bytes and where they go in
// the line (from, n). ok is false when the free text cannot absorb the
// difference.
func sameLength(dst, line []byte, sp span, field []byte) (repl []byte, from, n int, ok bool) {
	if !sp.keeps(len(field)) {
		return dst, 0, 0, false
	}
	if len(field) == sp.n {
		return append(dst, field...), sp.off, sp.n, true
	}
	freeLen := sp.freeN - (len(field) - sp.n)
	dst = appendFree(dst, line[sp.freeOff:sp.freeOff+sp.freeN], freeLen)
	dst = append(dst, line[sp.freeOff+sp.freeN:sp.off]...)
	dst = append(dst, field...)
	return dst, sp.freeOff, sp.off + sp.n - sp.freeOff, true
}

// refusedFill fills a refused argument: n bytes of it repeated.
const refusedFill = "refused-by-ftpalg-"

// appendRefusal appends n bytes of refusedFill, repeated.
func appendRefusal(dst []byte, n int) []byte {
	for i := 0; i < n; i++ {
		dst = append(dst, refusedFill[i%len(refusedFill)])
	}
	return dst
}
