package ftp

// Control-line classification (RFC 959 sections 4 and 5.3). Lines reach
// these functions without their line ending.

// Kind is what a client command means to the inspector.
type Kind uint8

const (
	Other Kind = iota
	PORT
	EPRT
	PASV
	EPSV
	EPSVAll
	AUTH
	CCC
	REIN
	QUIT
	Transfer // RETR, STOR, STOU, APPE, LIST, NLST, MLSD
)

var kindNames = [...]string{
	Other: "other", PORT: "PORT", EPRT: "EPRT", PASV: "PASV",
	EPSV: "EPSV", EPSVAll: "EPSV ALL", AUTH: "AUTH", CCC: "CCC",
	REIN: "REIN", QUIT: "QUIT", Transfer: "transfer",
}

func (k Kind) String() string { return kindNames[k] }

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

// IsSpace is SP or HTAB, the separators tolerated around arguments.
func IsSpace(c byte) bool { return c == ' ' || c == '\t' }

// SplitCommand splits a command line into verb and argument, trimming the
// separating and trailing blanks.
func SplitCommand(line []byte) (verb, arg []byte) {
	i := 0
	for i < len(line) && !IsSpace(line[i]) {
		i++
	}
	verb = line[:i]
	for i < len(line) && IsSpace(line[i]) {
		i++
	}
	arg = line[i:]
	j := len(arg)
	for j > 0 && IsSpace(arg[j-1]) {
		j--
	}
	return verb, arg[:j]
}

// Classify returns the kind of a command.
func Classify(verb, arg []byte) Kind {
	w, ok := upper4(verb)
	if !ok {
		return Other
	}
	switch w {
	case wPORT:
		return PORT
	case wEPRT:
		return EPRT
	case wPASV:
		return PASV
	case wEPSV:
		if a, ok := upper4(arg); ok && len(arg) == 3 && a == word("ALL") {
			return EPSVAll
		}
		return EPSV
	case wAUTH:
		return AUTH
	case wCCC:
		return CCC
	case wREIN:
		return REIN
	case wQUIT:
		return QUIT
	case wRETR, wSTOR, wSTOU, wAPPE, wLIST, wNLST, wMLSD:
		return Transfer
	}
	return Other
}

// Reply is a parsed server line.
type Reply struct {
	Code  int  // 100-599, or 0 when the line does not start with a code
	Multi bool // "ddd-": first line of a multi-line reply
	Text  []byte
}

// ParseReply reads the code of a server line. A line counts as a reply
// line when it starts with three digits, the first 1-5; a fourth byte of
// '-' starts a multi-line reply, anything else (usually SP) makes it a
// final line, as lenient clients read it.
func ParseReply(line []byte) Reply {
	if len(line) < 3 || line[0] < '1' || line[0] > '5' || !IsDigit(line[1]) || !IsDigit(line[2]) {
		return Reply{}
	}
	r := Reply{Code: int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')}
	if len(line) == 3 {
		return r
	}
	if IsDigit(line[3]) {
		return Reply{} // four digits: not a reply code
	}
	switch line[3] {
	case '-':
		r.Multi = true
		r.Text = line[4:]
	case ' ':
		r.Text = line[4:]
	default:
		r.Text = line[3:]
	}
	return r
}

func IsDigit(c byte) bool { return '0' <= c && c <= '9' }

// HasPrefixFold reports whether line starts with the upper-case ASCII
// word w, ignoring case.
func HasPrefixFold(line []byte, w string) bool {
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

// MayAnnounce reports whether an incomplete line (the bytes so far) could
// still turn into an announcement the inspector might have to rewrite:
// PORT/EPRT from the client, 227/229 from the server.
func MayAnnounce(fromClient bool, partial []byte) bool {
	if fromClient {
		return MayStartWith(partial, "PORT") || MayStartWith(partial, "EPRT")
	}
	return MayStartWith(partial, "227") || MayStartWith(partial, "229")
}

// MayStartWith reports whether a line whose first bytes are partial may
// start with the word w (ASCII, upper case), ignoring case: partial is a
// prefix of w, or w a prefix of partial.
func MayStartWith(partial []byte, w string) bool {
	n := len(partial)
	if n > len(w) {
		n = len(w)
	}
	return HasPrefixFold(partial[:n], w[:n])
}
