package conntrack

// The expiry heap of a Tracker: every session is in it once, keyed by a
// time at or before its next deadline (the idle timeout, the end of its
// closed linger, its earliest pinhole expiry), so that a Tick looks only
// at the sessions whose key has passed, not at every session.
//
// Deadlines that move later (a packet refreshes the idle time, a pinhole
// closes) leave the key where it was: the session comes up early, its
// real deadline is computed then, and it goes back in under that one.
// Deadlines that move earlier (a pinhole opens, the session ends) lower
// the key at once (notBefore), so nothing is late.

import "time"

// timers is the heap with the time its keys count from.
type timers struct {
	h timerHeap
	// epoch: keys are durations since the first time keyed (Sub, so the
	// monotonic clock orders them whenever the times carry it), 16 bytes
	// an entry instead of 32.
	epoch    time.Time
	epochSet bool
}

// timerEnt is one session in the heap with its key.
type timerEnt struct {
	at time.Duration // since timers.epoch
	s  *Session
}

func (t *timers) key(at time.Time) time.Duration {
	if !t.epochSet {
		t.epoch, t.epochSet = at, true
	}
	return at.Sub(t.epoch)
}

// add puts s, not in the heap, in with key at.
func (t *timers) add(s *Session, at time.Time) { t.h.add(s, t.key(at)) }

// drop takes s out of the heap, if it is in it.
func (t *timers) drop(s *Session) { t.h.drop(s) }

// due returns the session with the earliest key if that key is not after
// now, else nil.
func (t *timers) due(now time.Time) *Session {
	if len(t.h) == 0 || t.key(now) < t.h[0].at {
		return nil
	}
	return t.h[0].s
}

// move gives s, in the heap, the key at, or a second after now if at is
// not after now (a deadline always is, once Tick has done what was due).
func (t *timers) move(s *Session, at, now time.Time) {
	k, n := t.key(at), t.key(now)
	if k <= n && n < 1<<63-1-time.Second {
		k = n + time.Second
	}
	t.h.move(s, k)
}

// notBefore makes sure s comes up no later than at: a deadline of s just
// moved earlier.
func (t *timers) notBefore(s *Session, at time.Time) {
	if s.timer == 0 {
		return
	}
	if k := t.key(at); k < t.h[s.timer-1].at {
		t.h.move(s, k)
	}
}

// rekeyAll gives every session in the heap its current deadline: the
// idle and linger times changed (SetPolicy).
func (t *timers) rekeyAll(pol *Policy) {
	h := t.h
	for i := range h {
		h[i].at = t.key(h[i].s.deadline(pol))
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// timerHeap is a binary min-heap of sessions by key. Session.timer is the
// session's index in it plus one, 0 when it is not in it.
type timerHeap []timerEnt

func (h timerHeap) less(i, j int) bool { return h[i].at < h[j].at }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].s.timer = int32(i + 1)
	h[j].s.timer = int32(j + 1)
}

func (h timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts entry i down and reports whether it moved.
func (h timerHeap) down(i int) bool {
	i0 := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > i0
}

func (h *timerHeap) add(s *Session, at time.Duration) {
	*h = append(*h, timerEnt{at: at, s: s})
	s.timer = int32(len(*h))
	h.up(len(*h) - 1)
}

func (h *timerHeap) drop(s *Session) {
	if s.timer == 0 {
		return
	}
	i, last := int(s.timer-1), len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = timerEnt{}
	*h = (*h)[:last]
	s.timer = 0
	if i != last && !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) move(s *Session, at time.Duration) {
	i := int(s.timer - 1)
	h[i].at = at
	if !h.down(i) {
		h.up(i)
	}
}

// deadline is the next time something is due for s under pol: its idle
// timeout, the end of its linger once ended, its earliest pinhole expiry.
func (s *Session) deadline(pol *Policy) time.Time {
	d := s.lastSeen.Add(pol.SessionIdle)
	if s.ended {
		if e := s.endedAt.Add(pol.ClosedLinger); e.Before(d) {
			d = e
		}
	}
	if e := s.nextExpiry(); !e.IsZero() && e.Before(d) {
		d = e
	}
	return d
}
