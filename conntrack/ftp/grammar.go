// FTP data-connection announcement grammar: the argument of PORT and EPRT,
// and the text of 227 and 229 replies.
//
// The parsers are pure functions over a byte slice, in the style of
// net/textproto: no I/O, no state, no allocation when the input is valid. A
// firewall must not guess, so the grammar is strict: anything outside it is
// a *SyntaxError naming the grammar, the byte offset and what was wrong, and
// never a partial success.
//
// All unexported identifiers in this file start with "gram" because other
// files share the package namespace.

package ftp

import (
	"net/netip"
	"strconv"
)

// Names of the grammars, as found in SyntaxError.Grammar.
const (
	gramPORT = "PORT"
	gramEPRT = "EPRT"
	gram227  = "227"
	gram229  = "229"
)

// SyntaxError reports why an announcement did not parse.
type SyntaxError struct {
	Grammar string // "PORT", "EPRT", "227" or "229"
	Offset  int    // byte offset in the input where the problem was found
	Reason  string // e.g. "octet 256 out of range 0-255", "expected 6 numbers, got 5"
}

// Error returns e.g. "PORT: offset 14: octet 256 out of range 0-255".
func (e *SyntaxError) Error() string {
	return e.Grammar + ": offset " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// gramErr builds a *SyntaxError. It is only called on failure paths, so the
// allocation (and the string building done by its callers) never touches a
// successful parse.
func gramErr(grammar string, off int, reason string) error {
	return &SyntaxError{Grammar: grammar, Offset: off, Reason: reason}
}

func gramIsDigit(c byte) bool { return '0' <= c && c <= '9' }

func gramHexVal(c byte) (v uint32, ok bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint32(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint32(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint32(c-'A') + 10, true
	}
	return 0, false
}

// gramDescribe names the byte at b[i] for an error message, or "end of
// input". Printable ASCII is quoted ('x'); anything else, including bytes
// that are not UTF-8, is shown in hex so the message stays readable.
func gramDescribe(b []byte, i int) string {
	if i >= len(b) {
		return "end of input"
	}
	c := b[i]
	if 0x20 <= c && c <= 0x7e {
		return strconv.QuoteRune(rune(c))
	}
	return gramHexByte(c)
}

func gramHexByte(c byte) string {
	const hex = "0123456789abcdef"
	return "byte 0x" + string([]byte{hex[c>>4], hex[c&0xf]})
}

// gramQuote quotes a field for an error message, cut to a few bytes so that
// a hostile megabyte of input does not become a megabyte of log.
func gramQuote(field []byte) string {
	const max = 16
	if len(field) > max {
		return strconv.QuoteToASCII(string(field[:max])) + "..."
	}
	return strconv.QuoteToASCII(string(field))
}

func gramItoa(n int) string { return strconv.Itoa(n) }

// gramDigits returns the end of the run of ASCII digits starting at b[i].
func gramDigits(b []byte, i int) int {
	for i < len(b) && gramIsDigit(b[i]) {
		i++
	}
	return i
}

// gramIndexByte is bytes.IndexByte from offset i, returning an absolute
// index or -1 (kept local so the file needs only netip and strconv).
func gramIndexByte(b []byte, i int, c byte) int {
	for ; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// gramTuple parses the six comma-separated numbers h1,h2,h3,h4,p1,p2 of
// RFC 959 starting at b[start], and returns the address, port and the end of
// the tuple.
//
// If whole is true (PORT) the tuple must run to the end of b. Otherwise
// (227) it ends at the first byte after the sixth number, which by then is
// known not to be a digit; a comma there means a seventh number, an error.
//
// Each number is 1 to 3 ASCII digits, value 0-255; leading zeros are
// decimal ("010" is 10). The port p1*256+p2 must not be 0.
func gramTuple(grammar string, b []byte, start int, whole bool) (netip.AddrPort, int, error) {
	var v [6]byte
	i := start
	p1 := start // offset of p1, for the port-0 error
	for k := 0; k < 6; k++ {
		num := k + 1
		if k > 0 {
			if i >= len(b) || b[i] != ',' {
				if whole && i < len(b) {
					return netip.AddrPort{}, 0, gramErr(grammar, i,
						"expected ',' after number "+gramItoa(k)+", found "+gramDescribe(b, i))
				}
				return netip.AddrPort{}, 0, gramErr(grammar, i,
					"expected 6 numbers, got "+gramItoa(k))
			}
			i++
		}
		if k == 4 {
			p1 = i
		}
		fs := i
		i = gramDigits(b, i)
		switch n := i - fs; {
		case n == 0:
			if fs >= len(b) || b[fs] == ',' {
				return netip.AddrPort{}, 0, gramErr(grammar, fs,
					"number "+gramItoa(num)+" is empty")
			}
			return netip.AddrPort{}, 0, gramErr(grammar, fs,
				"number "+gramItoa(num)+": expected digit, found "+gramDescribe(b, fs))
		case n > 3:
			return netip.AddrPort{}, 0, gramErr(grammar, fs,
				"number "+gramItoa(num)+" has "+gramItoa(n)+" digits, want 1-3")
		}
		val := 0
		for _, c := range b[fs:i] {
			val = val*10 + int(c-'0')
		}
		if val > 255 {
			what := "octet "
			if k >= 4 {
				what = "port byte "
			}
			return netip.AddrPort{}, 0, gramErr(grammar, fs,
				what+gramItoa(val)+" out of range 0-255")
		}
		v[k] = byte(val)
	}
	if i < len(b) {
		if b[i] == ',' {
			// Say how many numbers there are: count the commas in the
			// rest of the digits-and-commas run.
			n := 6
			for j := i; j < len(b) && (gramIsDigit(b[j]) || b[j] == ','); j++ {
				if b[j] == ',' {
					n++
				}
			}
			return netip.AddrPort{}, 0, gramErr(grammar, i,
				"expected 6 numbers, got "+gramItoa(n))
		}
		if whole {
			return netip.AddrPort{}, 0, gramErr(grammar, i,
				"unexpected "+gramDescribe(b, i)+" after the sixth number")
		}
	}
	port := uint16(v[4])<<8 | uint16(v[5])
	if port == 0 {
		return netip.AddrPort{}, 0, gramErr(grammar, p1, "port 0 out of range 1-65535")
	}
	addr := netip.AddrFrom4([4]byte{v[0], v[1], v[2], v[3]})
	return netip.AddrPortFrom(addr, port), i, nil
}

// gramPort parses the decimal port (1 to 5 ASCII digits, value 1-65535, no
// sign) starting at b[i] and returns it with the end of its digits. The
// caller checks what follows.
func gramPort(grammar string, b []byte, i int) (uint16, int, error) {
	end := gramDigits(b, i)
	switch n := end - i; {
	case n == 0:
		return 0, 0, gramErr(grammar, i, "expected port digits, found "+gramDescribe(b, i))
	case n > 5:
		return 0, 0, gramErr(grammar, i, "port has "+gramItoa(n)+" digits, want 1-5")
	}
	val := 0
	for _, c := range b[i:end] {
		val = val*10 + int(c-'0')
	}
	if val < 1 || val > 65535 {
		return 0, 0, gramErr(grammar, i, "port "+gramItoa(val)+" out of range 1-65535")
	}
	return uint16(val), end, nil
}

// ParsePORT parses the argument of a PORT command (RFC 959 section 4.1.2):
// "h1,h2,h3,h4,p1,p2", six decimal numbers of 1 to 3 digits each, value
// 0-255, giving the IPv4 address h1.h2.h3.h4 and the port p1*256+p2, which
// must not be 0.
//
// arg is exactly the text after "PORT" and the separating space(s), with
// the line ending and trailing spaces already removed by the caller. Nothing
// may precede or follow the six numbers.
func ParsePORT(arg []byte) (netip.AddrPort, error) {
	ap, _, err := gramTuple(gramPORT, arg, 0, true)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return ap, nil
}

// Parse227 finds and parses the address in the text of a 227 reply: the
// text after the "227" code and its separator, without the line ending.
//
// RFC 959 gives no syntax for the text, so RFC 1123 section 4.1.2.6 tells
// clients to scan it for the first digit and read h1,h2,h3,h4,p1,p2 from
// there; servers send "Entering Passive Mode (h1,...,p2)", "=h1,...,p2",
// the tuple without parentheses, with a trailing ".", and so on. Parse227
// reads exactly what such a client reads: the tuple starts at the first
// ASCII digit, and if no valid tuple starts there it is an error (the text
// is not searched further, since the client would not search either). The
// tuple ends at the first byte after the sixth number, which must be neither
// a digit nor a comma, or at the end of text; anything after it is ignored.
//
// The numbers follow the rules of ParsePORT. text[start:end] is the tuple,
// for rewriting. On error ap, start and end are zero.
func Parse227(text []byte) (ap netip.AddrPort, start, end int, err error) {
	start = -1
	for i, c := range text {
		if gramIsDigit(c) {
			start = i
			break
		}
	}
	if start < 0 {
		return netip.AddrPort{}, 0, 0, gramErr(gram227, len(text), "no digit in reply text")
	}
	ap, end, err = gramTuple(gram227, text, start, false)
	if err != nil {
		return netip.AddrPort{}, 0, 0, err
	}
	return ap, start, end, nil
}

// Parse229 parses the text of a 229 reply (RFC 2428 section 3), e.g.
// "Entering Extended Passive Mode (|||6446|)".
//
// After the first '(' in text comes the delimiter d (ASCII 33-126, but not a
// digit: a digit delimiter cannot be told apart from the port), then d and d
// again (the network-protocol and address fields must be empty), the
// decimal port (1-5 digits, 1-65535) and a final d. The ')' after the final
// delimiter is optional, because clients do not require it; whatever follows
// is ignored. text[start:end] is the port's digits, for rewriting. On
// error port, start and end are zero.
func Parse229(text []byte) (port uint16, start, end int, err error) {
	open := gramIndexByte(text, 0, '(')
	if open < 0 {
		return 0, 0, 0, gramErr(gram229, len(text), "no '(' in reply text")
	}
	di := open + 1
	if di >= len(text) {
		return 0, 0, 0, gramErr(gram229, di, "expected delimiter after '(', found end of input")
	}
	d := text[di]
	if d < 33 || d > 126 {
		return 0, 0, 0, gramErr(gram229, di, "delimiter "+gramDescribe(text, di)+" outside ASCII 33-126")
	}
	if gramIsDigit(d) {
		return 0, 0, 0, gramErr(gram229, di, "delimiter "+gramDescribe(text, di)+" is a digit")
	}
	if i := di + 1; i >= len(text) || text[i] != d {
		return 0, 0, 0, gramErr(gram229, i,
			"network protocol field not empty: expected delimiter "+gramDescribe(text, di)+", found "+gramDescribe(text, i))
	}
	if i := di + 2; i >= len(text) || text[i] != d {
		return 0, 0, 0, gramErr(gram229, i,
			"network address field not empty: expected delimiter "+gramDescribe(text, di)+", found "+gramDescribe(text, i))
	}
	start = di + 3
	port, end, err = gramPort(gram229, text, start)
	if err != nil {
		return 0, 0, 0, err
	}
	if end >= len(text) || text[end] != d {
		return 0, 0, 0, gramErr(gram229, end,
			"expected delimiter "+gramDescribe(text, di)+" after port, found "+gramDescribe(text, end))
	}
	return port, start, end, nil
}

// gramEPRTDelimOK reports whether c may be an EPRT delimiter. RFC 2428
// allows ASCII 33-126. We also refuse the characters that can occur in an
// address or port field (digits, hex letters, '.' and ':'): with such a
// delimiter the fields can only be split by counting, and, worse, a
// rewritten command (AppendEPRT with the client's delimiter and a new
// address) could contain the delimiter inside the address and no longer
// parse. No real client uses them; RFC 2428 suggests '|'.
func gramEPRTDelimOK(c byte) bool {
	if c < 33 || c > 126 || c == '.' || c == ':' {
		return false
	}
	_, hex := gramHexVal(c)
	return !hex
}

// ParseEPRT parses the argument of an EPRT command (RFC 2428 section 2):
// "<d><af><d><addr><d><port><d>", where the delimiter d is the first byte.
// It returns the address and port, and the delimiter (to reuse when the
// command is rewritten).
//
// Rules:
//   - d is ASCII 33-126 but not a digit, hex letter, '.' or ':' (see
//     gramEPRTDelimOK), and occurs exactly four times: nothing may follow
//     the last one.
//   - af is "1" (addr is an IPv4 dotted quad) or "2" (addr is IPv6 text).
//     Any other family is an error.
//   - addr is accepted exactly when netip.ParseAddr accepts it (so IPv4
//     octets have no leading zeros), except that zones ("%eth0") are
//     refused, and an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is refused
//     with af 2: it names an IPv4 endpoint, which RFC 2428 sends as af 1, and
//     accepting it would let a client on an IPv6 control connection point
//     the data connection at an IPv4 host (on a dual-stack socket) while
//     the filter checks it as IPv6. The text is parsed here rather than by
//     netip.ParseAddr itself, because converting the field to a string for
//     it allocates; the tests check both agree.
//   - port is 1 to 5 ASCII digits, value 1-65535.
func ParseEPRT(arg []byte) (ap netip.AddrPort, delim byte, err error) {
	if len(arg) == 0 {
		return netip.AddrPort{}, 0, gramErr(gramEPRT, 0, "empty argument")
	}
	d := arg[0]
	if d < 33 || d > 126 {
		return netip.AddrPort{}, 0, gramErr(gramEPRT, 0, "delimiter "+gramDescribe(arg, 0)+" outside ASCII 33-126")
	}
	if !gramEPRTDelimOK(d) {
		return netip.AddrPort{}, 0, gramErr(gramEPRT, 0, "delimiter "+gramDescribe(arg, 0)+" can occur in an address or port")
	}
	// Find the other three delimiters.
	var pos [3]int
	from := 1
	for k := range pos {
		j := gramIndexByte(arg, from, d)
		if j < 0 {
			return netip.AddrPort{}, 0, gramErr(gramEPRT, len(arg),
				"expected 4 delimiters "+gramDescribe(arg, 0)+", found "+gramItoa(k+1))
		}
		pos[k] = j
		from = j + 1
	}
	if from < len(arg) {
		n := 4
		for _, c := range arg[from:] {
			if c == d {
				n++
			}
		}
		if n > 4 {
			return netip.AddrPort{}, 0, gramErr(gramEPRT, from,
				"expected 4 delimiters "+gramDescribe(arg, 0)+", found "+gramItoa(n))
		}
		return netip.AddrPort{}, 0, gramErr(gramEPRT, from,
			"unexpected "+gramDescribe(arg, from)+" after the final delimiter")
	}

	// Address family.
	afField := arg[1:pos[0]]
	var af byte
	switch {
	case len(afField) == 1 && (afField[0] == '1' || afField[0] == '2'):
		af = afField[0]
	case len(afField) == 0:
		return netip.AddrPort{}, 0, gramErr(gramEPRT, 1, "empty address family")
	default:
		return netip.AddrPort{}, 0, gramErr(gramEPRT, 1, "unsupported address family "+gramQuoteNumber(afField))
	}

	// Address.
	aStart, aEnd := pos[0]+1, pos[1]
	addrField := arg[aStart:aEnd]
	if len(addrField) == 0 {
		return netip.AddrPort{}, 0, gramErr(gramEPRT, aStart, "empty address")
	}
	if z := gramIndexByte(addrField, 0, '%'); z >= 0 {
		return netip.AddrPort{}, 0, gramErr(gramEPRT, aStart+z, "zone not allowed in address")
	}
	var addr netip.Addr
	if gramIndexByte(addrField, 0, ':') >= 0 {
		a16, err := gramIPv6(gramEPRT, addrField, aStart)
		if err != nil {
			return netip.AddrPort{}, 0, err
		}
		addr = netip.AddrFrom16(a16)
		if af != '2' {
			return netip.AddrPort{}, 0, gramErr(gramEPRT, aStart, "address family 1 needs an IPv4 address, got IPv6")
		}
		if addr.Is4In6() {
			return netip.AddrPort{}, 0, gramErr(gramEPRT, aStart,
				"IPv4-mapped IPv6 address with address family 2; send it as family 1")
		}
	} else {
		a4, err := gramIPv4(gramEPRT, addrField, aStart)
		if err != nil {
			return netip.AddrPort{}, 0, err
		}
		addr = netip.AddrFrom4(a4)
		if af != '1' {
			return netip.AddrPort{}, 0, gramErr(gramEPRT, aStart, "address family 2 needs an IPv6 address, got IPv4")
		}
	}

	// Port.
	pStart, pEnd := pos[1]+1, pos[2]
	port, end, err := gramPort(gramEPRT, arg[:pEnd], pStart)
	if err != nil {
		if pStart == pEnd {
			return netip.AddrPort{}, 0, gramErr(gramEPRT, pStart, "empty port")
		}
		return netip.AddrPort{}, 0, err
	}
	if end != pEnd {
		return netip.AddrPort{}, 0, gramErr(gramEPRT, end, "unexpected "+gramDescribe(arg, end)+" in port")
	}
	return netip.AddrPortFrom(addr, port), d, nil
}

// gramQuoteNumber shows an address-family field: bare if it is a short
// number ("3"), quoted and cut otherwise.
func gramQuoteNumber(field []byte) string {
	if len(field) <= 5 && gramDigits(field, 0) == len(field) {
		return string(field)
	}
	return gramQuote(field)
}

// gramIPv4 parses a dotted quad with the rules of netip.ParseAddr: exactly
// four decimal fields, 0-255, no leading zeros, nothing else. b is the whole
// address text and base its offset in the input, for errors.
func gramIPv4(grammar string, b []byte, base int) ([4]byte, error) {
	var a [4]byte
	i := 0
	for k := range a {
		if k > 0 {
			if i >= len(b) {
				return a, gramErr(grammar, base+i, "IPv4 address has "+gramItoa(k)+" fields, want 4")
			}
			if b[i] != '.' {
				return a, gramErr(grammar, base+i, "unexpected "+gramDescribe(b, i)+" in IPv4 address")
			}
			i++
		}
		fs := i
		i = gramDigits(b, i)
		switch n := i - fs; {
		case n == 0:
			if fs >= len(b) || b[fs] == '.' {
				return a, gramErr(grammar, base+fs, "empty field in IPv4 address")
			}
			return a, gramErr(grammar, base+fs, "unexpected "+gramDescribe(b, fs)+" in IPv4 address")
		case n > 1 && b[fs] == '0':
			return a, gramErr(grammar, base+fs, "IPv4 field has a leading zero")
		case n > 3:
			return a, gramErr(grammar, base+fs, "IPv4 field has "+gramItoa(n)+" digits, want 1-3")
		}
		val := 0
		for _, c := range b[fs:i] {
			val = val*10 + int(c-'0')
		}
		if val > 255 {
			return a, gramErr(grammar, base+fs, "IPv4 octet "+gramItoa(val)+" out of range 0-255")
		}
		a[k] = byte(val)
	}
	if i < len(b) {
		if b[i] == '.' {
			return a, gramErr(grammar, base+i, "IPv4 address has more than 4 fields")
		}
		return a, gramErr(grammar, base+i, "unexpected "+gramDescribe(b, i)+" after IPv4 address")
	}
	return a, nil
}

// gramIPv6 parses IPv6 text (RFC 4291 section 2.2, without a zone) with the
// rules of netip.ParseAddr: groups of 1-4 hex digits separated by ':', at
// most one "::" standing for at least one zero group, and optionally a
// dotted quad in place of the last two groups. b is the whole address text
// and base its offset in the input, for errors.
func gramIPv6(grammar string, b []byte, base int) ([16]byte, error) {
	var a [16]byte
	ell := -1   // index in a where "::" stands, or -1
	ellOff := 0 // offset of "::" in b
	n := 0      // bytes of a filled so far
	i := 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ell, i = 0, 2
		if i == len(b) {
			return a, nil // "::"
		}
	}
	for {
		if n == 16 {
			return a, gramErr(grammar, base+i, "IPv6 address has more than 8 groups")
		}
		gs := i
		var v uint32
		for i < len(b) {
			h, ok := gramHexVal(b[i])
			if !ok {
				break
			}
			v = v<<4 | h&0xf
			i++
			if i-gs > 4 {
				// Keep scanning only to report the length; v is
				// no longer used.
				v = 0
			}
		}
		if i < len(b) && b[i] == '.' {
			// Embedded dotted quad: it must fill the last two groups.
			if n > 12 {
				return a, gramErr(grammar, base+gs, "embedded IPv4 address must replace the last two groups")
			}
			a4, err := gramIPv4(grammar, b[gs:], base+gs)
			if err != nil {
				return a, err
			}
			copy(a[n:], a4[:])
			n += 4
			break
		}
		switch nd := i - gs; {
		case nd == 0:
			return a, gramErr(grammar, base+i, "unexpected "+gramDescribe(b, i)+" in IPv6 address, expected hex digit")
		case nd > 4:
			return a, gramErr(grammar, base+gs, "IPv6 group has "+gramItoa(nd)+" hex digits, want 1-4")
		}
		a[n], a[n+1] = byte(v>>8), byte(v)
		n += 2
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return a, gramErr(grammar, base+i, "unexpected "+gramDescribe(b, i)+" in IPv6 address")
		}
		i++
		if i == len(b) {
			return a, gramErr(grammar, base+i-1, "IPv6 address ends with a single ':'")
		}
		if b[i] == ':' {
			if ell >= 0 {
				return a, gramErr(grammar, base+i-1, "IPv6 address has more than one '::'")
			}
			ell, ellOff = n, i-1
			i++
			if i == len(b) {
				break
			}
		}
	}
	switch {
	case ell < 0 && n < 16:
		return a, gramErr(grammar, base+len(b), "IPv6 address has too few groups")
	case ell >= 0 && n == 16:
		return a, gramErr(grammar, base+ellOff, "'::' must stand for at least one zero group")
	case ell >= 0:
		// Move the groups after "::" to the end and zero the gap.
		tail := n - ell
		copy(a[16-tail:], a[ell:n])
		for k := ell; k < 16-tail; k++ {
			a[k] = 0
		}
	}
	return a, nil
}

// AppendPORT appends "h1,h2,h3,h4,p1,p2" for ap, as used in PORT arguments
// and 227 replies. ap's address must be IPv4 or IPv4-mapped IPv6 (which is
// unmapped); any other address panics, as netip.Addr.As4 does. A zero port
// is written as "0,0", which the parsers refuse.
func AppendPORT(dst []byte, ap netip.AddrPort) []byte {
	addr := ap.Addr().Unmap()
	if !addr.Is4() {
		panic("conntrack.AppendPORT: address " + addr.String() + " is not IPv4")
	}
	a := addr.As4()
	port := ap.Port()
	for _, o := range a {
		dst = strconv.AppendUint(dst, uint64(o), 10)
		dst = append(dst, ',')
	}
	dst = strconv.AppendUint(dst, uint64(port>>8), 10)
	dst = append(dst, ',')
	return strconv.AppendUint(dst, uint64(port&0xff), 10)
}

// AppendEPRT appends "<d>1<d>a.b.c.d<d>port<d>" for an IPv4 address or
// "<d>2<d>ipv6<d>port<d>" for an IPv6 one. An IPv4-mapped IPv6 address is
// written as family 1 (ParseEPRT refuses it as family 2), and a zone is
// dropped. The zero netip.Addr panics. delim is not checked: pass the one
// ParseEPRT returned, which cannot occur in the address or port text.
func AppendEPRT(dst []byte, delim byte, ap netip.AddrPort) []byte {
	addr := ap.Addr().Unmap().WithZone("")
	var af byte
	switch {
	case addr.Is4():
		af = '1'
	case addr.Is6():
		af = '2'
	default:
		panic("conntrack.AppendEPRT: invalid address")
	}
	dst = append(dst, delim, af, delim)
	dst = addr.AppendTo(dst)
	dst = append(dst, delim)
	dst = strconv.AppendUint(dst, uint64(ap.Port()), 10)
	return append(dst, delim)
}
