package ftp

import (
	"bytes"
	"errors"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The fuzz targets check each parser against a reference written the other
// way round: regular expressions, bytes.Split, strconv and netip.ParseAddr
// instead of a hand-written single pass. Both must accept exactly the same
// inputs with the same results, so the parser neither lets through anything
// the grammar forbids nor refuses anything it allows. On top of that:
// parse∘format round trips, spans and error shape.

// gramRefSix matches six numbers of 1-3 digits at the start of its input.
var gramRefSix = regexp.MustCompile(`^([0-9]{1,3}),([0-9]{1,3}),([0-9]{1,3}),([0-9]{1,3}),([0-9]{1,3}),([0-9]{1,3})`)

// gramRefTuple is the reference for a tuple at the start of b: it returns
// the address and the length of the tuple text.
func gramRefTuple(b []byte) (netip.AddrPort, int, bool) {
	m := gramRefSix.FindSubmatchIndex(b)
	if m == nil {
		return netip.AddrPort{}, 0, false
	}
	var v [6]int
	for k := range v {
		n, err := strconv.Atoi(string(b[m[2+2*k]:m[3+2*k]]))
		if err != nil || n > 255 {
			return netip.AddrPort{}, 0, false
		}
		v[k] = n
	}
	port := v[4]*256 + v[5]
	if port == 0 {
		return netip.AddrPort{}, 0, false
	}
	// The regexp may stop inside a longer number or before a seventh one.
	if end := m[1]; end < len(b) && (b[end] == ',' || ('0' <= b[end] && b[end] <= '9')) {
		return netip.AddrPort{}, 0, false
	}
	a := netip.AddrFrom4([4]byte{byte(v[0]), byte(v[1]), byte(v[2]), byte(v[3])})
	return netip.AddrPortFrom(a, uint16(port)), m[1], true
}

func gramRefPORT(arg []byte) (netip.AddrPort, bool) {
	ap, n, ok := gramRefTuple(arg)
	if !ok || n != len(arg) {
		return netip.AddrPort{}, false
	}
	return ap, true
}

func gramRef227(text []byte) (netip.AddrPort, int, int, bool) {
	start := bytes.IndexAny(text, "0123456789")
	if start < 0 {
		return netip.AddrPort{}, 0, 0, false
	}
	ap, n, ok := gramRefTuple(text[start:])
	return ap, start, start + n, ok
}

var gramRefPortDigits = regexp.MustCompile(`^[0-9]{1,5}$`)

func gramRefPort(b []byte) (uint16, bool) {
	if !gramRefPortDigits.Match(b) {
		return 0, false
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

func gramRefEPRT(arg []byte) (netip.AddrPort, byte, bool) {
	if len(arg) == 0 {
		return netip.AddrPort{}, 0, false
	}
	d := arg[0]
	if d < 33 || d > 126 || strings.IndexByte("0123456789abcdefABCDEF.:", d) >= 0 {
		return netip.AddrPort{}, 0, false
	}
	f := bytes.Split(arg, []byte{d})
	if len(f) != 5 || len(f[0]) != 0 || len(f[4]) != 0 {
		return netip.AddrPort{}, 0, false
	}
	addr, err := netip.ParseAddr(string(f[2]))
	if err != nil || addr.Zone() != "" {
		return netip.AddrPort{}, 0, false
	}
	switch string(f[1]) {
	case "1":
		if !addr.Is4() {
			return netip.AddrPort{}, 0, false
		}
	case "2":
		if !addr.Is6() || addr.Is4In6() {
			return netip.AddrPort{}, 0, false
		}
	default:
		return netip.AddrPort{}, 0, false
	}
	port, ok := gramRefPort(f[3])
	if !ok {
		return netip.AddrPort{}, 0, false
	}
	return netip.AddrPortFrom(addr, port), d, true
}

func gramRef229(text []byte) (uint16, int, int, bool) {
	i := bytes.IndexByte(text, '(')
	if i < 0 || len(text) < i+4 {
		return 0, 0, 0, false
	}
	d := text[i+1]
	if d < 33 || d > 126 || ('0' <= d && d <= '9') || text[i+2] != d || text[i+3] != d {
		return 0, 0, 0, false
	}
	start := i + 4
	end := bytes.IndexByte(text[start:], d)
	if end < 0 {
		return 0, 0, 0, false
	}
	end += start
	port, ok := gramRefPort(text[start:end])
	return port, start, end, ok
}

// gramCheckFuzzErr checks the shape of an error from a parser.
func gramCheckFuzzErr(t *testing.T, in []byte, err error, grammar string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%q: error %v (%T) is not a *SyntaxError", in, err, err)
	}
	if se.Grammar != grammar || se.Offset < 0 || se.Offset > len(in) || se.Reason == "" {
		t.Fatalf("%q: bad error %#v", in, se)
	}
	if len(se.Error()) > 200 {
		t.Fatalf("%q: error message is %d bytes", in, len(se.Error()))
	}
}

func FuzzParsePORT(f *testing.F) {
	for _, s := range []string{
		"172,16,101,104,8,76",     // Serv-U v6.4
		"127,0,0,1,28,37",         // CuteFTP Pro
		"192,168,9,186,216,142",   // FileZilla 3.66.5
		"192,168,111,13,192,42",   // vsftpd
		"010,001,000,001,000,021", // leading zeros are decimal
		"1,2,3,4,0,0",             // port 0
		"1,2,3,256,5,6",           // octet out of range
		"+1,2,3,4,5,6",            // sign
		"00000000000000000001,2,3,4,5,6",
		"1,2,3,4,5",       // five numbers
		"1,2,3,4,5,6,7",   // seven numbers
		"1,2,3,4,5,6,",    // trailing comma
		"1,,3,4,5,6",      // empty number
		"1, 2,3,4,5,6",    // space inside
		"1,2,3,4\x00,5,6", // NUL
		"1,2,3,\xff,5,6",  // not UTF-8
		"",
	} {
		f.Add([]byte(s))
	}
	for _, tt := range gramPORTTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, arg []byte) {
		ap, err := ParsePORT(arg)
		want, ok := gramRefPORT(arg)
		if (err == nil) != ok {
			t.Fatalf("ParsePORT(%q) error %v, reference accepts: %v", arg, err, ok)
		}
		if err != nil {
			gramCheckFuzzErr(t, arg, err, "PORT")
			return
		}
		if ap != want {
			t.Fatalf("ParsePORT(%q) = %v, reference %v", arg, ap, want)
		}
		// Round trip, and format∘parse∘format is stable.
		s := AppendPORT(nil, ap)
		back, err := ParsePORT(s)
		if err != nil || back != ap {
			t.Fatalf("ParsePORT(%q) = %v, %v after formatting %v", s, back, err, ap)
		}
		if s2 := AppendPORT(nil, back); !bytes.Equal(s, s2) {
			t.Fatalf("AppendPORT not stable: %q then %q", s, s2)
		}
	})
}

func FuzzParse227(f *testing.F) {
	for _, s := range []string{
		"Entering Passive Mode (172,16,101,104,8,86)", // Serv-U v6.4
		"Entering Passive Mode (127,0,0,1,26,80).",    // CuteFTP Pro
		"Entering passive mode (127,0,0,10,8,105).",   // pyftpdlib-style
		"=10,1,2,3,4,5",                          // RFC 1123 form
		"Entering Passive Mode 10,1,2,3,4,5",     // no parentheses
		"Entering Passive Mode (-1,2,3,4,5,6)",   // the client skips the '-'
		"Logout.",                                // no digit
		"Entering Passive Mode (256,0,0,1,4,1)",  // octet out of range
		"(1,2,3,4,5)",                            // five numbers
		"(1,2,3,4,5,6,7)",                        // seven numbers
		"Entering Passive Mode v2 (1,2,3,4,5,6)", // first digit is not the tuple
		"(1,2,3,4,5,6)\x00\xff",
		"",
	} {
		f.Add([]byte(s))
	}
	for _, tt := range gram227Tests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		ap, start, end, err := Parse227(text)
		want, wstart, wend, ok := gramRef227(text)
		if (err == nil) != ok {
			t.Fatalf("Parse227(%q) error %v, reference accepts: %v", text, err, ok)
		}
		if err != nil {
			gramCheckFuzzErr(t, text, err, "227")
			return
		}
		if ap != want || start != wstart || end != wend {
			t.Fatalf("Parse227(%q) = %v [%d,%d), reference %v [%d,%d)", text, ap, start, end, want, wstart, wend)
		}
		// The span is the tuple, as PORT would read it.
		if start < 0 || start > end || end > len(text) {
			t.Fatalf("Parse227(%q) span [%d,%d) out of range", text, start, end)
		}
		if back, err := ParsePORT(text[start:end]); err != nil || back != ap {
			t.Fatalf("Parse227(%q): span %q parses as %v, %v; want %v", text, text[start:end], back, err, ap)
		}
		// Rewriting the span with a formatted tuple reads back that tuple.
		otherPort := ap.Port() ^ 0x5555
		if otherPort == 0 {
			otherPort = 1
		}
		other := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), otherPort)
		rewritten := append(append(append([]byte(nil), text[:start]...), AppendPORT(nil, other)...), text[end:]...)
		if got, _, _, err := Parse227(rewritten); err != nil || got != other {
			t.Fatalf("Parse227(%q) = %v, %v after rewriting to %v", rewritten, got, err, other)
		}
		// Round trip through a canonical reply.
		canon := append(append([]byte("Entering Passive Mode ("), AppendPORT(nil, ap)...), ")."...)
		if back, _, _, err := Parse227(canon); err != nil || back != ap {
			t.Fatalf("Parse227(%q) = %v, %v; want %v", canon, back, err, ap)
		}
	})
}

func FuzzParseEPRT(f *testing.F) {
	for _, s := range []string{
		"|1|132.235.1.2|6275|",           // RFC 2428
		"|2|1080::8:800:200C:417A|5282|", // RFC 2428
		"!2!::1.2.3.4!21!",               // other delimiter, embedded IPv4
		"|1|132.235.1.2|65536|",          // port out of range
		"|1|132.235.1.2|0|",              // port 0
		"|3|132.235.1.2|6275|",           // address family 3
		"|1|132.235.1.2!6275!",           // mismatched delimiters
		" 1 132.235.1.2 6275 ",           // delimiter outside 33-126
		"\x7f1\x7f132.235.1.2\x7f6275\x7f",
		"\x801\x80132.235.1.2\x806275\x80",
		"|1|::1|21|",              // family mismatch
		"|2|::ffff:1.2.3.4|21|",   // IPv4-mapped
		"|2|fe80::1%eth0|21|",     // zone
		"|2|1:2:3:4:5:6:7::8|21|", // "::" for no group
		"|1|01.2.3.4|21|",         // leading zero
		"",
	} {
		f.Add([]byte(s))
	}
	for _, tt := range gramEPRTTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, arg []byte) {
		ap, d, err := ParseEPRT(arg)
		want, wd, ok := gramRefEPRT(arg)
		if (err == nil) != ok {
			t.Fatalf("ParseEPRT(%q) error %v, reference accepts: %v", arg, err, ok)
		}
		if err != nil {
			gramCheckFuzzErr(t, arg, err, "EPRT")
			if ap != (netip.AddrPort{}) || d != 0 {
				t.Fatalf("ParseEPRT(%q) = %v, %q with an error", arg, ap, d)
			}
			return
		}
		if ap != want || d != wd || d != arg[0] {
			t.Fatalf("ParseEPRT(%q) = %v, %q; reference %v, %q", arg, ap, d, want, wd)
		}
		s := AppendEPRT(nil, d, ap)
		back, bd, err := ParseEPRT(s)
		if err != nil || back != ap || bd != d {
			t.Fatalf("ParseEPRT(%q) = %v, %q, %v after formatting %v", s, back, bd, err, ap)
		}
		if s2 := AppendEPRT(nil, bd, back); !bytes.Equal(s, s2) {
			t.Fatalf("AppendEPRT not stable: %q then %q", s, s2)
		}
		// Any address of the same family formats into something that
		// parses with the same delimiter (what a rewrite does).
		other := netip.AddrFrom4([4]byte{203, 0, 113, 7})
		if ap.Addr().Is6() {
			other = netip.MustParseAddr("2001:db8:abcd:ef::1")
		}
		r := AppendEPRT(nil, d, netip.AddrPortFrom(other, 65535))
		if got, _, err := ParseEPRT(r); err != nil || got.Addr() != other {
			t.Fatalf("ParseEPRT(%q) = %v, %v after rewriting", r, got, err)
		}
	})
}

func FuzzParse229(f *testing.F) {
	for _, s := range []string{
		"Entering Extended Passive Mode (|||6446|)", // RFC 2428
		"Extended Passive mode OK (|||41011|)",      // Pure-FTPd
		"(!!!6446!)",                                // other delimiter
		"Entering Extended Passive Mode (|||6446|",  // no ')'
		"(|||0|)",         // port 0
		"(|||65536|)",     // port out of range
		"(|||123456|)",    // six digits
		"(|1|1.2.3.4|5|)", // non-empty fields
		"(|||6446!)",      // mismatched delimiters
		"(1116441)",       // digit delimiter
		"( ||6446 )",      // delimiter outside 33-126
		"(\x80\x80\x806446\x80)",
		"",
	} {
		f.Add([]byte(s))
	}
	for _, tt := range gram229Tests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		port, start, end, err := Parse229(text)
		want, wstart, wend, ok := gramRef229(text)
		if (err == nil) != ok {
			t.Fatalf("Parse229(%q) error %v, reference accepts: %v", text, err, ok)
		}
		if err != nil {
			gramCheckFuzzErr(t, text, err, "229")
			return
		}
		if port != want || start != wstart || end != wend {
			t.Fatalf("Parse229(%q) = %d [%d,%d), reference %d [%d,%d)", text, port, start, end, want, wstart, wend)
		}
		if start < 0 || start >= end || end > len(text) {
			t.Fatalf("Parse229(%q) span [%d,%d) out of range", text, start, end)
		}
		if v, err := strconv.ParseUint(string(text[start:end]), 10, 16); err != nil || uint16(v) != port {
			t.Fatalf("Parse229(%q): span %q is not %d", text, text[start:end], port)
		}
		// Rewriting the span with other digits reads back that port.
		other := port ^ 0x5555
		if other == 0 {
			other = 1
		}
		rewritten := append(append(append([]byte(nil), text[:start]...), strconv.Itoa(int(other))...), text[end:]...)
		if got, _, _, err := Parse229(rewritten); err != nil || got != other {
			t.Fatalf("Parse229(%q) = %d, %v after rewriting to %d", rewritten, got, err, other)
		}
		// Round trip through a canonical reply.
		canon := []byte("Entering Extended Passive Mode (|||" + strconv.Itoa(int(port)) + "|)")
		if back, _, _, err := Parse229(canon); err != nil || back != port {
			t.Fatalf("Parse229(%q) = %d, %v; want %d", canon, back, err, port)
		}
	})
}
