package conntrack

// Control-line classification (RFC 959 section 4 and 5.3). Lines reach
// these functions without their line ending.

// cmdKind is what a client command means to the inspector.
type cmdKind uint8

const (
	cmdOther cmdKind = iota
	cmdPORT
	cmdEPRT
	cmdPASV
	cmdEPSV
	cmdEPSVAll
	cmdAUTH
	cmdCCC
	cmdREIN
	cmdQUIT
	cmdTransfer // RETR, STOR, STOU, APPE, LIST, NLST, MLSD
)

var cmdNames = [...]string{
	cmdOther: "other", cmdPORT: "PORT", cmdEPRT: "EPRT", cmdPASV: "PASV",
	cmdEPSV: "EPSV", cmdEPSVAll: "EPSV ALL", cmdAUTH: "AUTH", cmdCCC: "CCC",
	cmdREIN: "REIN", cmdQUIT: "QUIT", cmdTransfer: "transfer",
}

func (k cmdKind) String() string { return cmdNames[k] }

// upper4 packs up to the first 4 bytes of verb, upper-cased, into a word
// for a switch without allocating. ok is false for verbs longer than 4.
func upper4(verb []byte) (w uint32, ok bool) {
	if len(verb) == 0 || len(verb) > 4 {
		return 0, false
	}
	for _, c := range verb {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		w = w<<8 | uint32(c)
	}
	return w, true
}

func word(s string) uint32 {
	w, _ := upper4([]byte(s))
	return w
}

var (
	wPORT = word("PORT")
	wEPRT = word("EPRT")
	wPASV = word("PASV")
	wEPSV = word("EPSV")
	wAUTH = word("AUTH")
	wCCC  = word("CCC")
	wREIN = word("REIN")
	wQUIT = word("QUIT")
	wRETR = word("RETR")
	wSTOR = word("STOR")
	wSTOU = word("STOU")
	wAPPE = word("APPE")
	wLIST = word("LIST")
	wNLST = word("NLST")
	wMLSD = word("MLSD")
)

// isSpace is SP or HTAB, the separators tolerated around arguments.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// splitCommand splits a command line into verb and argument, trimming the
// separating and trailing blanks.
func splitCommand(line []byte) (verb, arg []byte) {
	i := 0
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	verb = line[:i]
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	arg = line[i:]
	j := len(arg)
	for j > 0 && isSpace(arg[j-1]) {
		j--
	}
	return verb, arg[:j]
}

// classify returns the kind of a command.
func classify(verb, arg []byte) cmdKind {
	w, ok := upper4(verb)
	if !ok {
		return cmdOther
	}
	switch w {
	case wPORT:
		return cmdPORT
	case wEPRT:
		return cmdEPRT
	case wPASV:
		return cmdPASV
	case wEPSV:
		if a, ok := upper4(arg); ok && len(arg) == 3 && a == word("ALL") {
			return cmdEPSVAll
		}
		return cmdEPSV
	case wAUTH:
		return cmdAUTH
	case wCCC:
		return cmdCCC
	case wREIN:
		return cmdREIN
	case wQUIT:
		return cmdQUIT
	case wRETR, wSTOR, wSTOU, wAPPE, wLIST, wNLST, wMLSD:
		return cmdTransfer
	}
	return cmdOther
}

// replyLine is a parsed server line.
type replyLine struct {
	code  int  // 100-599, or 0 when the line does not start with a code
	multi bool // "ddd-": first line of a multi-line reply
	text  []byte
}

// parseReply reads the code of a server line. A line counts as a reply
// line when it starts with three digits, the first 1-5; a fourth byte of
// '-' starts a multi-line reply, anything else (usually SP) makes it a
// final line, as lenient clients read it.
func parseReply(line []byte) replyLine {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return replyLine{}
	}
	r := replyLine{code: int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')}
	if len(line) == 3 {
		return r
	}
	if isDigit(line[3]) {
		return replyLine{} // four digits: not a reply code
	}
	switch line[3] {
	case '-':
		r.multi = true
		r.text = line[4:]
	case ' ':
		r.text = line[4:]
	default:
		r.text = line[3:]
	}
	return r
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// hasPrefixFold reports whether line starts with the upper-case ASCII
// word w, ignoring case.
func hasPrefixFold(line []byte, w string) bool {
	if len(line) < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := line[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != w[i] {
			return false
		}
	}
	return true
}

// mayAnnounce reports whether an incomplete line (the bytes so far) could
// still turn into an announcement the inspector might have to rewrite:
// PORT/EPRT from the client, 227/229 from the server.
func mayAnnounce(dir Dir, partial []byte) bool {
	if dir == FromClient {
		return prefixOrFold(partial, "PORT") || prefixOrFold(partial, "EPRT")
	}
	return prefixOrFold(partial, "227") || prefixOrFold(partial, "229")
}

// mayEdit is mayAnnounce, plus AUTH from the client when the session's
// TLS policy blocks it (its argument gets rewritten).
func (s *Session) mayEdit(dir Dir, partial []byte) bool {
	return mayAnnounce(dir, partial) || dir == FromClient && s.tls.Mode == TLSBlock && prefixOrFold(partial, "AUTH")
}

// prefixOrFold: partial is a prefix of w, or w a prefix of partial.
func prefixOrFold(partial []byte, w string) bool {
	n := len(partial)
	if n > len(w) {
		n = len(w)
	}
	return hasPrefixFold(partial[:n], w[:n])
}

// sanitize renders a control line for a log: printable ASCII kept, other
// bytes as \xNN, cut at max bytes of input. It allocates; use it for
// events only.
func sanitize(line []byte, max int) string {
	cut := false
	if len(line) > max {
		line, cut = line[:max], true
	}
	b := appendSanitized(make([]byte, 0, len(line)+8), line)
	if cut {
		b = append(b, "..."...)
	}
	return string(b)
}

func appendSanitized(b, line []byte) []byte {
	const hex = "0123456789abcdef"
	for _, c := range line {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			b = append(b, c)
		} else {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		}
	}
	return b
}
