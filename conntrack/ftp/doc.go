// Package ftp is the FTP control-line grammar that ftpalg's inspector
// reads, as net/textproto is to net/smtp: pure functions over byte slices,
// no state, no I/O and no allocation on valid input.
//
//   - Announcements: ParsePORT, ParseEPRT (RFC 959, RFC 2428), Parse227
//     (scanned from its first digit, RFC 1123 section 4.1.2.6) and Parse229,
//     and AppendPORT, AppendEPRT to write them. The grammar is strict:
//     anything outside it is a *SyntaxError with the grammar, the byte
//     offset and the reason.
//   - Lines: SplitCommand and Classify for client commands, ParseReply for
//     server replies (RFC 959 section 4.2 multi-line framing), and
//     MayAnnounce / MayStartWith for lines not yet complete.
//
// Package conntrack applies it to reassembled streams.
package ftp
