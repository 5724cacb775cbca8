package conntrack

import "github.com/ftpalg/ftpalg/conntrack/ftp"

// mayEdit is mayAnnounce, plus AUTH from the client when the session's
// TLS policy blocks it (its argument gets rewritten).
func (s *Session) mayEdit(dir Dir, partial []byte) bool {
	return ftp.MayAnnounce(dir == FromClient, partial) || dir == FromClient && s.tls.Mode == TLSBlock && ftp.MayStartWith(partial, "AUTH")
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
