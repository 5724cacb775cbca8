package ftp

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// Test helpers in this file start with "gram" because other test files
// share the package namespace.

// gramWantErr checks that err is a *SyntaxError for grammar with the given
// offset and a Reason containing reason.
func gramWantErr(t *testing.T, in string, err error, grammar string, off int, reason string) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("%q: got error %v (%T), want *SyntaxError", in, err, err)
		return
	}
	if se.Grammar != grammar {
		t.Errorf("%q: Grammar = %q, want %q", in, se.Grammar, grammar)
	}
	if se.Offset != off {
		t.Errorf("%q: Offset = %d, want %d (%v)", in, se.Offset, off, se)
	}
	if !strings.Contains(se.Reason, reason) {
		t.Errorf("%q: Reason = %q, want it to contain %q", in, se.Reason, reason)
	}
}

func gramAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// Real transcripts. The port is p1*256+p2.
var gramPORTTests = []struct {
	in     string
	want   netip.AddrPort
	off    int    // error offset, if reason != ""
	reason string // substring of SyntaxError.Reason; "" means success
}{
	// Serv-U v6.4, client on 172.16.101.104.
	{in: "172,16,101,104,8,76", want: gramAP("172.16.101.104:2124")},
	{in: "172,16,101,104,8,77", want: gramAP("172.16.101.104:2125")},
	{in: "172,16,101,104,7,254", want: gramAP("172.16.101.104:2046")},
	// CuteFTP Pro log.
	{in: "127,0,0,1,28,37", want: gramAP("127.0.0.1:7205")},
	// FileZilla 3.66.5 client against FileZilla Server 0.9.60.
	{in: "192,168,9,186,216,142", want: gramAP("192.168.9.186:55438")},
	// vsftpd, client 192.168.111.13.
	{in: "192,168,111,13,192,42", want: gramAP("192.168.111.13:49194")},
	// Leading zeros within three digits are decimal, not octal.
	{in: "010,001,000,001,000,021", want: gramAP("10.1.0.1:21")},
	{in: "0,0,0,0,0,1", want: gramAP("0.0.0.0:1")},
	{in: "255,255,255,255,255,255", want: gramAP("255.255.255.255:65535")},
	// Low ports are policy, not grammar.
	{in: "1,2,3,4,0,21", want: gramAP("1.2.3.4:21")},

	{in: "172,16,101,256,8,76", off: 11, reason: "octet 256 out of range 0-255"},
	{in: "999,16,101,104,8,76", off: 0, reason: "octet 999 out of range 0-255"},
	{in: "1,2,3,4,256,1", off: 8, reason: "port byte 256 out of range 0-255"},
	{in: "1,2,3,4,5,300", off: 10, reason: "port byte 300 out of range 0-255"},
	{in: "1,2,3,4,0,0", off: 8, reason: "port 0 out of range 1-65535"},
	{in: "1,2,3,4,000,000", off: 8, reason: "port 0 out of range 1-65535"},
	{in: "+1,2,3,4,5,6", off: 0, reason: "number 1: expected digit, found '+'"},
	{in: "1,-2,3,4,5,6", off: 2, reason: "number 2: expected digit, found '-'"},
	{in: "1,2,3,4,5,+6", off: 10, reason: "number 6: expected digit, found '+'"},
	{in: "00000000000000000001,2,3,4,5,6", off: 0, reason: "number 1 has 20 digits, want 1-3"},
	{in: "1,2,3,4,5,00000000000000000001", off: 10, reason: "number 6 has 20 digits, want 1-3"},
	{in: "0001,2,3,4,5,6", off: 0, reason: "number 1 has 4 digits"},
	{in: "1,2,3,4,5", off: 9, reason: "expected 6 numbers, got 5"},
	{in: "1,2,3,4,5,6,7", off: 11, reason: "expected 6 numbers, got 7"},
	{in: "1,2,3,4,5,6,7,8,9", off: 11, reason: "expected 6 numbers, got 9"},
	{in: "1,,3,4,5,6", off: 2, reason: "number 2 is empty"},
	{in: ",2,3,4,5,6", off: 0, reason: "number 1 is empty"},
	{in: "1,2,3,4,5,", off: 10, reason: "number 6 is empty"},
	{in: "1,2,3,4,5,6,", off: 11, reason: "expected 6 numbers, got 7"}, // trailing comma
	{in: "", off: 0, reason: "number 1 is empty"},
	{in: "1, 2,3,4,5,6", off: 2, reason: "number 2: expected digit, found ' '"},
	{in: "1 ,2,3,4,5,6", off: 1, reason: "expected ',' after number 1, found ' '"},
	{in: " 1,2,3,4,5,6", off: 0, reason: "number 1: expected digit, found ' '"},
	{in: "1,2,3,4,5,6 ", off: 11, reason: "unexpected ' ' after the sixth number"},
	{in: "1,2,3,4,5,6)", off: 11, reason: "unexpected ')' after the sixth number"},
	{in: "1\t,2,3,4,5,6", off: 1, reason: "found byte 0x09"},
	{in: "1,2,3,4\x00,5,6", off: 7, reason: "expected ',' after number 4, found byte 0x00"},
	{in: "1,2,3,4,5,6\x00", off: 11, reason: "unexpected byte 0x00 after the sixth number"},
	{in: "\x001,2,3,4,5,6", off: 0, reason: "found byte 0x00"},
	{in: "1,2,3,\xff4,5,6", off: 6, reason: "number 4: expected digit, found byte 0xff"},
	{in: "1,2,3,4,5,6\xff\xfe", off: 11, reason: "byte 0xff"},
	{in: "\uff11,2,3,4,5,6", off: 0, reason: "byte 0xef"}, // FULLWIDTH DIGIT ONE is not a digit
	{in: "0x1,2,3,4,5,6", off: 1, reason: "expected ',' after number 1, found 'x'"},
	{in: "1.2.3.4.5.6", off: 1, reason: "expected ',' after number 1, found '.'"},
	{in: "(1,2,3,4,5,6)", off: 0, reason: "number 1: expected digit, found '('"},
}

func TestGrammarPORT(t *testing.T) {
	for _, tt := range gramPORTTests {
		got, err := ParsePORT([]byte(tt.in))
		if tt.reason != "" {
			gramWantErr(t, tt.in, err, "PORT", tt.off, tt.reason)
			if got != (netip.AddrPort{}) {
				t.Errorf("ParsePORT(%q) = %v on error, want zero", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePORT(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

var gram227Tests = []struct {
	in     string
	want   netip.AddrPort
	tuple  string // text[start:end] on success
	off    int
	reason string
}{
	// Serv-U v6.4, server 172.16.101.104.
	{in: "Entering Passive Mode (172,16,101,104,8,86)", want: gramAP("172.16.101.104:2134"), tuple: "172,16,101,104,8,86"},
	{in: "Entering Passive Mode (172,16,101,104,8,88)", want: gramAP("172.16.101.104:2136"), tuple: "172,16,101,104,8,88"},
	{in: "Entering Passive Mode (172,16,101,104,7,254)", want: gramAP("172.16.101.104:2046"), tuple: "172,16,101,104,7,254"},
	// CuteFTP Pro log.
	{in: "Entering Passive Mode (127,0,0,1,26,108)", want: gramAP("127.0.0.1:6764"), tuple: "127,0,0,1,26,108"},
	// The article quoting this log says port 6764 for this reply too,
	// but 26*256+80 = 6736: the article is wrong, the arithmetic is not.
	{in: "Entering Passive Mode (127,0,0,1,26,80).", want: gramAP("127.0.0.1:6736"), tuple: "127,0,0,1,26,80"},
	// Python (pyftpdlib-style) server: lower-case text, trailing '.'.
	{in: "Entering passive mode (127,0,0,10,8,74).", want: gramAP("127.0.0.10:2122"), tuple: "127,0,0,10,8,74"},
	{in: "Entering passive mode (127,0,0,10,8,105).", want: gramAP("127.0.0.10:2153"), tuple: "127,0,0,10,8,105"},
	// RFC 1123 4.1.2.6 forms: "=", no parentheses, bare tuple, no ')'.
	{in: "=10,1,2,3,4,5", want: gramAP("10.1.2.3:1029"), tuple: "10,1,2,3,4,5"},
	{in: "Entering Passive Mode 10,1,2,3,4,5", want: gramAP("10.1.2.3:1029"), tuple: "10,1,2,3,4,5"},
	{in: "10,1,2,3,4,5", want: gramAP("10.1.2.3:1029"), tuple: "10,1,2,3,4,5"},
	{in: "Entering Passive Mode (10,1,2,3,4,5", want: gramAP("10.1.2.3:1029"), tuple: "10,1,2,3,4,5"},
	{in: "Entering Passive Mode (010,001,002,003,004,005)", want: gramAP("10.1.2.3:1029"), tuple: "010,001,002,003,004,005"},
	// Whatever follows the tuple is not looked at.
	{in: "Entering Passive Mode (1,2,3,4,5,6) 7,8,9", want: gramAP("1.2.3.4:1286"), tuple: "1,2,3,4,5,6"},
	{in: "Entering Passive Mode (1,2,3,4,5,6)\xff\x00", want: gramAP("1.2.3.4:1286"), tuple: "1,2,3,4,5,6"},
	// A client scanning for the first digit skips the '-' too, and
	// connects to 1.2.3.4:1286; the firewall must see the same.
	{in: "Entering Passive Mode (-1,2,3,4,5,6)", want: gramAP("1.2.3.4:1286"), tuple: "1,2,3,4,5,6"},
	{in: "\x00\xff(1,2,3,4,5,6)", want: gramAP("1.2.3.4:1286"), tuple: "1,2,3,4,5,6"},

	{in: "Logout.", off: 7, reason: "no digit in reply text"},
	{in: "", off: 0, reason: "no digit in reply text"},
	{in: "Entering Passive Mode (256,0,0,1,4,1)", off: 23, reason: "octet 256 out of range 0-255"},
	{in: "Entering Passive Mode (1,2,3,4,5,256)", off: 33, reason: "port byte 256 out of range 0-255"},
	{in: "(1,2,3,4,5)", off: 10, reason: "expected 6 numbers, got 5"},
	{in: "(1,2,3,4,5,6,7)", off: 12, reason: "expected 6 numbers, got 7"},
	{in: "(1,2,3,4,5,6,)", off: 12, reason: "expected 6 numbers, got 7"},
	{in: "(1,2,3,4,5,)", off: 11, reason: "number 6: expected digit, found ')'"},
	{in: "(1,,3,4,5,6)", off: 3, reason: "number 2 is empty"},
	{in: "Entering Passive Mode (1,2,3,4,0,0)", off: 31, reason: "port 0 out of range 1-65535"},
	{in: "Entering Passive Mode (1,2,3,4,5, 6)", off: 33, reason: "number 6: expected digit, found ' '"},
	{in: "Entering Passive Mode (1, 2,3,4,5,6)", off: 25, reason: "number 2: expected digit, found ' '"},
	{in: "Entering Passive Mode (1 ,2,3,4,5,6)", off: 24, reason: "expected 6 numbers, got 1"},
	{in: "Entering Passive Mode (1,-2,3,4,5,6)", off: 25, reason: "number 2: expected digit, found '-'"},
	{in: "Entering Passive Mode (00000000000000000001,2,3,4,5,6)", off: 23, reason: "number 1 has 20 digits, want 1-3"},
	{in: "(1,2,3,4\x00,5,6)", off: 8, reason: "expected 6 numbers, got 4"},
	{in: "(1,2,3,\xff4,5,6)", off: 7, reason: "number 4: expected digit, found byte 0xff"},
	// The first digit decides, even if it is not the tuple: a client
	// would fail the same way, so no further search.
	{in: "Entering Passive Mode v2 (1,2,3,4,5,6)", off: 24, reason: "expected 6 numbers, got 1"},
}

func TestGrammar227(t *testing.T) {
	for _, tt := range gram227Tests {
		got, start, end, err := Parse227([]byte(tt.in))
		if tt.reason != "" {
			gramWantErr(t, tt.in, err, "227", tt.off, tt.reason)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse227(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
			continue
		}
		if start < 0 || start > end || end > len(tt.in) || tt.in[start:end] != tt.tuple {
			t.Errorf("Parse227(%q) span [%d,%d), want %q", tt.in, start, end, tt.tuple)
		}
	}
}

var gram229Tests = []struct {
	in     string
	want   uint16
	off    int
	reason string
}{
	// RFC 2428 section 3.
	{in: "Entering Extended Passive Mode (|||6446|)", want: 6446},
	// Pure-FTPd.
	{in: "Extended Passive mode OK (|||41011|)", want: 41011},
	{in: "(!!!6446!)", want: 6446},
	{in: "(~~~6446~)", want: 6446},
	{in: "((((6446()", want: 6446},
	{in: "(aaa6446a)", want: 6446},
	{in: "Entering Extended Passive Mode (|||6446|", want: 6446},   // no ')'
	{in: "Entering Extended Passive Mode (|||6446|).", want: 6446}, // trailing text
	{in: "(|||1|)", want: 1},
	{in: "(|||65535|)", want: 65535},
	{in: "(|||00021|)", want: 21},

	{in: "(|||0|)", off: 4, reason: "port 0 out of range 1-65535"},
	{in: "(|||00000|)", off: 4, reason: "port 0 out of range 1-65535"},
	{in: "(|||65536|)", off: 4, reason: "port 65536 out of range 1-65535"},
	{in: "(|||99999|)", off: 4, reason: "port 99999 out of range 1-65535"},
	{in: "(|||123456|)", off: 4, reason: "port has 6 digits, want 1-5"},
	{in: "(|||006446|)", off: 4, reason: "port has 6 digits, want 1-5"},
	{in: "(|||00000000000000000001|)", off: 4, reason: "port has 20 digits"},
	{in: "(|1|1.2.3.4|5|)", off: 2, reason: "network protocol field not empty"},
	{in: "(||1.2.3.4|5|)", off: 3, reason: "network address field not empty"},
	{in: "(|||6446!)", off: 8, reason: "expected delimiter '|' after port, found '!'"},
	{in: "(|!!6446|)", off: 2, reason: "network protocol field not empty"},
	{in: "(|||6446)", off: 8, reason: "after port, found ')'"},
	{in: "(|||6446", off: 8, reason: "after port, found end of input"},
	{in: "(|||+6446|)", off: 4, reason: "expected port digits, found '+'"},
	{in: "(|||-1|)", off: 4, reason: "expected port digits, found '-'"},
	{in: "(|||64 46|)", off: 6, reason: "after port, found ' '"},
	{in: "(||||)", off: 4, reason: "expected port digits, found '|'"},
	{in: "(|||\x006446|)", off: 4, reason: "found byte 0x00"},
	{in: "Entering Extended Passive Mode", off: 30, reason: "no '(' in reply text"},
	{in: "", off: 0, reason: "no '(' in reply text"},
	{in: "(", off: 1, reason: "expected delimiter after '(', found end of input"},
	{in: "(|", off: 2, reason: "network protocol field not empty"},
	{in: "( ||6446 )", off: 1, reason: "delimiter ' ' outside ASCII 33-126"},
	{in: "(\x7f\x7f\x7f6446\x7f)", off: 1, reason: "outside ASCII 33-126"},
	{in: "(\x80\x80\x806446\x80)", off: 1, reason: "delimiter byte 0x80 outside ASCII 33-126"},
	{in: "(1116441)", off: 1, reason: "delimiter '1' is a digit"},
	// The first '(' decides.
	{in: "Entering (extended) passive mode (|||6446|)", off: 11, reason: "network protocol field not empty"},
}

func TestGrammar229(t *testing.T) {
	for _, tt := range gram229Tests {
		got, start, end, err := Parse229([]byte(tt.in))
		if tt.reason != "" {
			gramWantErr(t, tt.in, err, "229", tt.off, tt.reason)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse229(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
			continue
		}
		if start < 0 || start >= end || end > len(tt.in) {
			t.Errorf("Parse229(%q) span [%d,%d) out of range", tt.in, start, end)
			continue
		}
		digits := tt.in[start:end]
		if v, err := strconv.ParseUint(digits, 10, 16); err != nil || strings.Trim(digits, "0123456789") != "" || uint16(v) != got {
			t.Errorf("Parse229(%q) span %q, want the digits of %d", tt.in, digits, got)
		}
	}
}

var gramEPRTTests = []struct {
	in     string
	want   netip.AddrPort
	delim  byte
	off    int
	reason string
}{
	// RFC 2428 section 2.
	{in: "|1|132.235.1.2|6275|", want: gramAP("132.235.1.2:6275"), delim: '|'},
	{in: "|2|1080::8:800:200C:417A|5282|", want: gramAP("[1080::8:800:200c:417a]:5282"), delim: '|'},
	{in: "!1!10.0.0.1!21!", want: gramAP("10.0.0.1:21"), delim: '!'},
	{in: "~2~FE80:0:0:0:0:0:0:1~1~", want: gramAP("[fe80::1]:1"), delim: '~'},
	{in: "|2|::1|21|", want: gramAP("[::1]:21"), delim: '|'},
	{in: "|2|::|65535|", want: gramAP("[::]:65535"), delim: '|'},
	{in: "|2|2001:db8::|21|", want: gramAP("[2001:db8::]:21"), delim: '|'},
	{in: "|2|1:2:3:4:5:6:7:8|21|", want: gramAP("[1:2:3:4:5:6:7:8]:21"), delim: '|'},
	{in: "|2|1:2:3:4:5:6:1.2.3.4|21|", want: gramAP("[1:2:3:4:5:6:102:304]:21"), delim: '|'},
	{in: "|2|::1.2.3.4|21|", want: gramAP("[::102:304]:21"), delim: '|'}, // IPv4-compatible, not mapped
	{in: "|2|0000:0000:0000:0000:0000:0000:0000:0001|21|", want: gramAP("[::1]:21"), delim: '|'},
	{in: "|1|1.2.3.4|00021|", want: gramAP("1.2.3.4:21"), delim: '|'},
	{in: "|1|0.0.0.0|1|", want: gramAP("0.0.0.0:1"), delim: '|'},
	{in: "g1g1.2.3.4g21g", want: gramAP("1.2.3.4:21"), delim: 'g'},

	{in: "|1|132.235.1.2|65536|", off: 15, reason: "port 65536 out of range 1-65535"},
	{in: "|1|132.235.1.2|0|", off: 15, reason: "port 0 out of range 1-65535"},
	{in: "|1|132.235.1.2|123456|", off: 15, reason: "port has 6 digits"},
	{in: "|1|132.235.1.2|+6275|", off: 15, reason: "expected port digits, found '+'"},
	{in: "|1|132.235.1.2|62 75|", off: 17, reason: "unexpected ' ' in port"},
	{in: "|1|132.235.1.2||", off: 15, reason: "empty port"},
	{in: "|3|132.235.1.2|6275|", off: 1, reason: "unsupported address family 3"},
	{in: "|0|132.235.1.2|6275|", off: 1, reason: "unsupported address family 0"},
	{in: "|12|132.235.1.2|6275|", off: 1, reason: "unsupported address family 12"},
	{in: "|01|132.235.1.2|6275|", off: 1, reason: "unsupported address family 01"},
	{in: "|IP4|132.235.1.2|6275|", off: 1, reason: `unsupported address family "IP4"`},
	{in: "||132.235.1.2|6275|", off: 1, reason: "empty address family"},
	{in: "|1|132.235.1.2!6275!", off: 20, reason: "expected 4 delimiters '|', found 2"},
	{in: "|1|132.235.1.2|6275!", off: 20, reason: "expected 4 delimiters '|', found 3"},
	{in: "!1|132.235.1.2|6275|", off: 20, reason: "expected 4 delimiters '!', found 1"},
	{in: "|1|132.235.1.2|6275", off: 19, reason: "expected 4 delimiters '|', found 3"},
	{in: "|1|132.235.1.2|6275||", off: 20, reason: "expected 4 delimiters '|', found 5"},
	{in: "|1|132.235.1.2|6275|x", off: 20, reason: "unexpected 'x' after the final delimiter"},
	{in: "|1|132.235.1.2|6275|\x00", off: 20, reason: "unexpected byte 0x00 after the final delimiter"},
	{in: " 1 132.235.1.2 6275 ", off: 0, reason: "delimiter ' ' outside ASCII 33-126"},
	{in: "\x7f1\x7f132.235.1.2\x7f6275\x7f", off: 0, reason: "delimiter byte 0x7f outside ASCII 33-126"},
	{in: "\x801\x80132.235.1.2\x806275\x80", off: 0, reason: "delimiter byte 0x80 outside ASCII 33-126"},
	{in: "\x001\x00132.235.1.2\x006275\x00", off: 0, reason: "delimiter byte 0x00 outside"},
	{in: "", off: 0, reason: "empty argument"},
	{in: "1", off: 0, reason: "delimiter '1' can occur in an address or port"},
	{in: ".1.132.235.1.2.6275.", off: 0, reason: "delimiter '.' can occur"},
	{in: ":2:::1:21:", off: 0, reason: "delimiter ':' can occur"},
	{in: "a1a132.235.1.2a6275a", off: 0, reason: "delimiter 'a' can occur"},
	{in: "F1F132.235.1.2F6275F", off: 0, reason: "delimiter 'F' can occur"},
	{in: "|1|::1|21|", off: 3, reason: "address family 1 needs an IPv4 address, got IPv6"},
	{in: "|2|132.235.1.2|6275|", off: 3, reason: "address family 2 needs an IPv6 address, got IPv4"},
	{in: "|2|::ffff:132.235.1.2|6275|", off: 3, reason: "IPv4-mapped IPv6 address with address family 2"},
	{in: "|2|fe80::1%eth0|21|", off: 10, reason: "zone not allowed"},
	{in: "|1|1.2.3.4%eth0|21|", off: 10, reason: "zone not allowed"},
	{in: "|1||21|", off: 3, reason: "empty address"},
	{in: "|1|132.235.1.256|21|", off: 13, reason: "IPv4 octet 256 out of range 0-255"},
	{in: "|1|01.2.3.4|21|", off: 3, reason: "IPv4 field has a leading zero"},
	{in: "|1|1.2.3|21|", off: 8, reason: "IPv4 address has 3 fields, want 4"},
	{in: "|1|1.2.3.4.5|21|", off: 10, reason: "IPv4 address has more than 4 fields"},
	{in: "|1|1..3.4|21|", off: 5, reason: "empty field in IPv4 address"},
	{in: "|1|1.2.3.4 |21|", off: 10, reason: "unexpected ' ' after IPv4 address"},
	{in: "|1| 1.2.3.4|21|", off: 3, reason: "unexpected ' ' in IPv4 address"},
	{in: "|1|1.2.3.\xff|21|", off: 9, reason: "unexpected byte 0xff in IPv4 address"},
	{in: "|1|1.2.3.0004|21|", off: 9, reason: "leading zero"},
	{in: "|1|1.2.3.1000|21|", off: 9, reason: "IPv4 field has 4 digits"},
	{in: "|2|1::2::3|21|", off: 7, reason: "more than one '::'"},
	{in: "|2|1:2:3:4:5:6:7:8:9|21|", off: 19, reason: "more than 8 groups"},
	{in: "|2|12345::1|21|", off: 3, reason: "IPv6 group has 5 hex digits, want 1-4"},
	{in: "|2|1:2:3:4:5:6:7|21|", off: 16, reason: "too few groups"},
	{in: "|2|1:2:3:4::5:6:7:8|21|", off: 10, reason: "'::' must stand for at least one zero group"},
	{in: "|2|:1::|21|", off: 3, reason: "unexpected ':' in IPv6 address, expected hex digit"},
	{in: "|2|1:|21|", off: 4, reason: "ends with a single ':'"},
	{in: "|2|1:2:3:4:5:6:7:1.2.3.4|21|", off: 17, reason: "embedded IPv4 address must replace the last two groups"},
	{in: "|2|::1.2.3.4:5|21|", off: 12, reason: "unexpected ':' after IPv4 address"},
	{in: "|2|::1.2.3|21|", off: 10, reason: "IPv4 address has 3 fields"},
	{in: "|2|::g|21|", off: 5, reason: "unexpected 'g' in IPv6 address"},
	{in: "|2|1:2:3:4:5:6:7:8:|21|", off: 18, reason: "ends with a single ':'"},
}

func TestGrammarEPRT(t *testing.T) {
	for _, tt := range gramEPRTTests {
		got, delim, err := ParseEPRT([]byte(tt.in))
		if tt.reason != "" {
			gramWantErr(t, tt.in, err, "EPRT", tt.off, tt.reason)
			if got != (netip.AddrPort{}) || delim != 0 {
				t.Errorf("ParseEPRT(%q) = %v, %q on error, want zero", tt.in, got, delim)
			}
			continue
		}
		if err != nil || got != tt.want || delim != tt.delim {
			t.Errorf("ParseEPRT(%q) = %v, %q, %v; want %v, %q, nil", tt.in, got, delim, err, tt.want, tt.delim)
		}
	}
}

// TestGrammarEPRTAddrMatchesNetip checks the hand-written address parser
// against netip.ParseAddr on a list of tricky texts; FuzzParseEPRT does the
// same on generated ones.
func TestGrammarEPRTAddrMatchesNetip(t *testing.T) {
	addrs := []string{
		"0.0.0.0", "255.255.255.255", "1.2.3.4", "01.2.3.4", "1.2.3.04", "1.2.3.00",
		"1.2.3", "1.2.3.4.", ".1.2.3.4", "1.2.3.256", "1.2.3.4.5", "1..2.3",
		"::", "::1", "1::", "1::1", ":::", "::1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7::8", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:",
		":1:2:3:4:5:6:7", "::ffff:1.2.3.4", "::1.2.3.4", "1::1.2.3.4", "1:2:3:4:5:6:1.2.3.4",
		"1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5::1.2.3.4", "1:2:3:4:5:6::1.2.3.4", "::1.2.3.4:1",
		"::01.2.3.4", "::1.2.3.256", "00000::1", "0000::1", "abcd:ef01::ABCD:EF01", "g::1",
		"1:2:3:4:5:6:7:8:", "::ffff:0.0.0.0", "::ffff:1.2.3", "1.2.3.4::", "::1.2.3.4.5", "::.1.2.3",
		"1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7", "::1:2:3:4:5:6:7:8", "1::2:3:4:5:6:7:8",
	}
	for _, s := range addrs {
		want, werr := netip.ParseAddr(s)
		af := "1"
		if strings.Contains(s, ":") {
			af = "2"
		}
		got, _, gerr := ParseEPRT([]byte("|" + af + "|" + s + "|21|"))
		if want.Is4In6() {
			// Refused on purpose, see ParseEPRT.
			if gerr == nil {
				t.Errorf("%q: IPv4-mapped address accepted", s)
			}
			continue
		}
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%q: netip.ParseAddr error %v, ParseEPRT error %v", s, werr, gerr)
			continue
		}
		if werr == nil && got.Addr() != want {
			t.Errorf("%q: ParseEPRT address %v, netip.ParseAddr %v", s, got.Addr(), want)
		}
	}
}

func TestGrammarSyntaxErrorText(t *testing.T) {
	_, err := ParsePORT([]byte("172,16,101,256,8,76"))
	if got, want := err.Error(), "PORT: offset 11: octet 256 out of range 0-255"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, _, _, err = Parse227([]byte("(1,2,3,4,5)"))
	if got, want := err.Error(), "227: offset 10: expected 6 numbers, got 5"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, _, err = ParseEPRT([]byte("|3|1.2.3.4|21|"))
	if got, want := err.Error(), "EPRT: offset 1: unsupported address family 3"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, _, _, err = Parse229([]byte("(|||0|)"))
	if got, want := err.Error(), "229: offset 4: port 0 out of range 1-65535"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// A hostile field is cut in the message.
	_, _, err = ParseEPRT([]byte("|" + strings.Repeat("x", 1000) + "|1.2.3.4|21|"))
	if len(err.Error()) > 100 {
		t.Errorf("Error() is %d bytes long: %q", len(err.Error()), err)
	}
}

func TestGrammarAppendPORT(t *testing.T) {
	tests := []struct {
		ap   netip.AddrPort
		want string
	}{
		{gramAP("172.16.101.104:2134"), "172,16,101,104,8,86"},
		{gramAP("127.0.0.1:6736"), "127,0,0,1,26,80"},
		{gramAP("192.168.9.186:55438"), "192,168,9,186,216,142"},
		{gramAP("0.0.0.0:1"), "0,0,0,0,0,1"},
		{gramAP("255.255.255.255:65535"), "255,255,255,255,255,255"},
		{gramAP("[::ffff:10.1.2.3]:1029"), "10,1,2,3,4,5"}, // unmapped
	}
	for _, tt := range tests {
		if got := string(AppendPORT([]byte("PORT "), tt.ap)); got != "PORT "+tt.want {
			t.Errorf("AppendPORT(%v) = %q, want %q", tt.ap, got, "PORT "+tt.want)
		}
	}
	for _, ap := range []netip.AddrPort{gramAP("[::1]:21"), {}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendPORT(%v) did not panic", ap)
				}
			}()
			AppendPORT(nil, ap)
		}()
	}
}

func TestGrammarAppendEPRT(t *testing.T) {
	tests := []struct {
		d    byte
		ap   netip.AddrPort
		want string
	}{
		{'|', gramAP("132.235.1.2:6275"), "|1|132.235.1.2|6275|"},
		{'|', gramAP("[1080::8:800:200c:417a]:5282"), "|2|1080::8:800:200c:417a|5282|"},
		{'!', gramAP("[::1]:21"), "!2!::1!21!"},
		{'|', gramAP("[::ffff:10.1.2.3]:21"), "|1|10.1.2.3|21|"}, // unmapped
		{'|', netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 21), "|2|fe80::1|21|"},
	}
	for _, tt := range tests {
		if got := string(AppendEPRT([]byte("EPRT "), tt.d, tt.ap)); got != "EPRT "+tt.want {
			t.Errorf("AppendEPRT(%q, %v) = %q, want %q", tt.d, tt.ap, got, "EPRT "+tt.want)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("AppendEPRT of the zero AddrPort did not panic")
			}
		}()
		AppendEPRT(nil, '|', netip.AddrPort{})
	}()
}

// TestGrammarRoundTrip: every valid table input, parsed, formatted and
// parsed again, gives the same value.
func TestGrammarRoundTrip(t *testing.T) {
	for _, tt := range gramPORTTests {
		if tt.reason != "" {
			continue
		}
		ap, _ := ParsePORT([]byte(tt.in))
		back, err := ParsePORT(AppendPORT(nil, ap))
		if err != nil || back != ap {
			t.Errorf("PORT %q: round trip gave %v, %v", tt.in, back, err)
		}
	}
	for _, tt := range gramEPRTTests {
		if tt.reason != "" {
			continue
		}
		ap, d, _ := ParseEPRT([]byte(tt.in))
		back, d2, err := ParseEPRT(AppendEPRT(nil, d, ap))
		if err != nil || back != ap || d2 != d {
			t.Errorf("EPRT %q: round trip gave %v, %q, %v", tt.in, back, d2, err)
		}
	}
}

// TestGrammarAllocs: parsing valid input and appending into a buffer with
// room allocate nothing.
func TestGrammarAllocs(t *testing.T) {
	buf := make([]byte, 0, 128)
	check := func(name string, in []byte, f func()) {
		t.Helper()
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s(%q): %v allocations, want 0", name, in, n)
		}
	}
	for _, tt := range gramPORTTests {
		if tt.reason == "" {
			in := []byte(tt.in)
			check("ParsePORT", in, func() {
				ap, err := ParsePORT(in)
				if err != nil {
					panic(err)
				}
				buf = AppendPORT(buf[:0], ap)
			})
		}
	}
	for _, tt := range gram227Tests {
		if tt.reason == "" {
			in := []byte(tt.in)
			check("Parse227", in, func() {
				if _, _, _, err := Parse227(in); err != nil {
					panic(err)
				}
			})
		}
	}
	for _, tt := range gram229Tests {
		if tt.reason == "" {
			in := []byte(tt.in)
			check("Parse229", in, func() {
				if _, _, _, err := Parse229(in); err != nil {
					panic(err)
				}
			})
		}
	}
	for _, tt := range gramEPRTTests {
		if tt.reason == "" {
			in := []byte(tt.in)
			check("ParseEPRT", in, func() {
				ap, d, err := ParseEPRT(in)
				if err != nil {
					panic(err)
				}
				buf = AppendEPRT(buf[:0], d, ap)
			})
		}
	}
}

// TestGrammarHostileSizes: megabyte inputs of the bytes each grammar cares
// about are refused quickly and with a short message (the parsers are
// single pass).
func TestGrammarHostileSizes(t *testing.T) {
	const n = 1 << 20
	big := map[string][]byte{
		"digits": bytes.Repeat([]byte("9"), n),
		"commas": bytes.Repeat([]byte(","), n),
		"pairs":  bytes.Repeat([]byte("1,"), n/2),
		"colons": bytes.Repeat([]byte(":"), n),
		"hex":    bytes.Repeat([]byte("f:"), n/2),
		"dots":   bytes.Repeat([]byte("1."), n/2),
		"pipes":  bytes.Repeat([]byte("|"), n),
		"parens": bytes.Repeat([]byte("("), n),
		"nul":    make([]byte, n),
	}
	for name, b := range big {
		var errs []error
		_, err := ParsePORT(b)
		errs = append(errs, err)
		_, _, _, err = Parse227(b)
		errs = append(errs, err)
		_, _, _, err = Parse229(b)
		errs = append(errs, err)
		_, _, err = ParseEPRT(b)
		errs = append(errs, err)
		_, _, err = ParseEPRT(append([]byte("|2|"), b...))
		errs = append(errs, err)
		_, _, err = ParseEPRT(append(append([]byte("|2|"), b...), "|21|"...))
		errs = append(errs, err)
		_, _, err = ParseEPRT(append(append([]byte("|1|"), b...), "|21|"...))
		errs = append(errs, err)
		_, _, err = ParseEPRT(append([]byte("|1|1.2.3.4|"), b...))
		errs = append(errs, err)
		for i, err := range errs {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("%s #%d: got %v, want *SyntaxError", name, i, err)
				continue
			}
			if len(se.Reason) > 120 {
				t.Errorf("%s #%d: reason is %d bytes long", name, i, len(se.Reason))
			}
		}
	}
}
