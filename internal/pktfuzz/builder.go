package pktfuzz

import "strings"

// Builder writes programs for Reader, for fuzz seeds: whole sessions with
// handshakes, commands and replies, acknowledgments and closes.
type Builder struct {
	b []byte
}

// Bytes is the program so far.
func (b *Builder) Bytes() []byte { return b.b }

// Packet sends one in-order segment (payload at most 255 bytes) from dir
// on connection conn, acknowledging what that side received.
func (b *Builder) Packet(conn, dir int, flags uint8, payload string) *Builder {
	return b.PacketAt(conn, dir, flags, 0, payload)
}

// PacketAt sends one segment whose sequence number is seqDelta away from
// the next one in order (negative: a retransmission, positive: a gap).
func (b *Builder) PacketAt(conn, dir int, flags uint8, seqDelta int8, payload string) *Builder {
	c := catFramed | byte(conn&3)<<1 | byte(dir&1)
	if seqDelta != 0 {
		c |= bitSeq
	}
	b.b = append(b.b, c)
	if seqDelta != 0 {
		b.b = append(b.b, byte(seqDelta))
	}
	b.b = append(b.b, flags, byte(len(payload)))
	b.b = append(b.b, payload[:min(len(payload), 255)]...)
	return b
}

// SACK sends a bare ACK from dir carrying one SACK block of n bytes
// starting left bytes after the acknowledged point.
func (b *Builder) SACK(conn, dir int, left int8, n byte) *Builder {
	b.b = append(b.b, catFramed|bitSACK|byte(conn&3)<<1|byte(dir&1), byte(left), n, flagACK, 0)
	return b
}

// Corrupt sends an in-order segment and then damages it: the byte at off
// is XORed with val, or the packet is cut at off when val is 0.
func (b *Builder) Corrupt(conn, dir int, flags uint8, payload string, off, val byte) *Builder {
	b.b = append(b.b, catCorrupt|byte(conn&3)<<1|byte(dir&1), flags, byte(len(payload)))
	b.b = append(b.b, payload[:min(len(payload), 255)]...)
	b.b = append(b.b, off, val)
	return b
}

// Raw hands pkt to the inspector as it is.
func (b *Builder) Raw(pkt []byte) *Builder {
	b.b = append(b.b, catRaw, byte(len(pkt)>>8), byte(len(pkt)))
	b.b = append(b.b, pkt...)
	return b
}

// Tick advances the clock by Durations[i].
func (b *Builder) Tick(i int) *Builder {
	b.b = append(b.b, catControl|ctlTick|byte(i&15))
	return b
}

// Used reports outstanding pinhole i used.
func (b *Builder) Used(i int) *Builder {
	b.b = append(b.b, catControl|ctlUsed|byte(i&15))
	return b
}

// EndFlow ends connection conn as the kernel would when it forgets it.
func (b *Builder) EndFlow(conn int) *Builder {
	b.b = append(b.b, catControl|ctlEnd|byte(conn&3))
	return b
}

// Resend sends again the i-th remembered packet (of the last eight built).
func (b *Builder) Resend(i int) *Builder {
	b.b = append(b.b, catControl|ctlResend|byte(i&7))
	return b
}

// Handshake opens connection conn: SYN, SYN-ACK, ACK.
func (b *Builder) Handshake(conn int) *Builder {
	return b.Packet(conn, FromClient, flagSYN, "").
		Packet(conn, FromServer, flagSYN|flagACK, "").
		Packet(conn, FromClient, flagACK, "")
}

// Line sends text from dir in segments of at most 255 bytes, each
// acknowledged by the other side.
func (b *Builder) Line(conn, dir int, text string) *Builder {
	for len(text) > 0 {
		n := min(len(text), 255)
		b.Packet(conn, dir, flagACK|flagPSH, text[:n]).Packet(conn, 1-dir, flagACK, "")
		text = text[n:]
	}
	return b
}

// Dialog sends control lines, each written "C: text" (from the client) or
// "S: text" (from the server), with CRLF appended.
func (b *Builder) Dialog(conn int, lines ...string) *Builder {
	for _, l := range lines {
		dir := FromClient
		if strings.HasPrefix(l, "S: ") {
			dir = FromServer
		}
		b.Line(conn, dir, strings.TrimPrefix(strings.TrimPrefix(l, "C: "), "S: ")+"\r\n")
	}
	return b
}

// Close ends connection conn with FINs from both sides and their ACKs.
func (b *Builder) Close(conn int) *Builder {
	return b.Packet(conn, FromClient, flagFIN|flagACK, "").
		Packet(conn, FromServer, flagFIN|flagACK, "").
		Packet(conn, FromClient, flagACK, "")
}
