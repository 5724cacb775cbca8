// Package rules owns the kernel side of pinholes: the nftables table,
// chains, sets and maps that admit exactly the data connections the
// inspector announced, and the NAT mappings they need.
//
// Memory is an in-memory model of that table with the kernel's semantics
// (one-shot pinholes and NAT mappings, element timeouts). "ftpalg replay" and the tests use
// it to predict which data connections the kernel would admit; it never
// replaces the real table in the daemon.
//
// # The nftables table (Linux)
//
// Table is the real thing, built through github.com/google/nftables (the
// only package of ftpalg that imports it; Linux only). Open creates one
// table in family inet, named by Spec.Table ("ftpalg" below), replacing a
// table of that name from an earlier run in the same batch. Chains hold
// static rules; everything that changes at run time is a set or map
// element with a timeout, so the kernel cleans up even if the daemon dies.
//
//	set ctlports   inet_service, constant: the control ports
//	set pin4/pin6  ipv4_addr . ipv4_addr . inet_service (ipv6 for pin6),
//	               flags dynamic,timeout: src . dst . dst port of a pinhole
//	map dnat4/6    src . public dst . port : private dst . port, one-shot
//	map snat4/6    src . private dst . port : new source address, one-shot
//	set range4/6   src . dst . port range, flags interval,timeout: the
//	               passive range of a TLS session (tls: passthrough-range)
//	map rdnat4/6   src . public dst . port range : private dst address
//	set reset4/6   saddr . daddr . sport . dport, flags timeout: both
//	               directions of a control connection ftpalg reset
//
// For each hook H of Spec.Hooks (forward, input, output), two base chains:
//
//	divert-H   filter, priority -10: a packet of a flow in reset4/reset6
//	           is rejected with a TCP reset; then TCP to or from a control
//	           port goes to NFQUEUE if its connection's ct mark has the
//	           Spec.ResizedMark bits (ftpalg changed the stream's length:
//	           every packet needs its sequence numbers shifted), or if it
//	           carries data ("@ih,0,8 & 0x0 == 0x0": the load fails on an
//	           empty payload), or SYN, FIN or RST. Pure ACKs of other
//	           control connections stay in the kernel. Three rules per
//	           port direction, each with its counter; Spec.Queued models
//	           them. The queue is
//	           NFQUEUE (Spec.QueueNum, or a range of Spec.QueueCount queues
//	           spread by flow, both directions on one queue; BYPASS if
//	           Spec.FailOpen). Native nft "queue" where the kernel has it,
//	           otherwise the xtables NFQUEUE target (revision 3) through
//	           nft_compat; Open probes which (Table.Divert says).
//	pinhole-H  filter, priority -5: a new TCP connection whose
//	           src . dst . dport is in pin4/pin6 deletes that element (the
//	           pinhole is one-shot) and gets Spec.Mark OR-ed into its ct
//	           mark. The admin's own ruleset admits it, and its
//	           retransmitted SYNs, with "ct mark & MARK == MARK accept".
//	           A new connection matching range4/range6 gets the mark too,
//	           without consuming the element (a TLS session's passive
//	           range admits all its data connections while it lasts).
//
// and the NAT chains:
//
//	nat-pre      nat prerouting, priority -110 (before the usual -100):
//	             dnat to the dnat4/dnat6 entry of src . dst . dport,
//	             deleting the entry (one-shot, like a pinhole), or to the
//	             rdnat4/rdnat6 address (port unchanged; not consumed: a
//	             passive range serves many connections)
//	nat-post     nat postrouting, priority 90 (before the usual 100): snat
//	             to the snat4/snat6 entry of src . dst . dport, dst being
//	             the address after DNAT, deleting the entry
//	nat-output   nat output, priority -110, only with the output hook:
//	             dnat for connections the firewall itself opens, as
//	             nat-pre
//
// A NAT chain sees only the first packet of a connection; conntrack keeps
// its translation for the rest, retransmitted SYNs included. So the data
// connection that uses a pinhole takes its pin element and its dnat and
// snat elements with it, and a second SYN to the same public address and
// port is neither translated nor admitted. (A data connection that
// reaches the server without the mapping, straight to its private
// address, uses the pinhole but leaves the dnat element to its timeout.)
// The rule looks the map data up
// into registers clear of the key, deletes the element with a dynset
// (which, for a map, needs a data register even to delete: it names the
// key's own daddr . dport, of the data's type), then translates from the
// looked-up data. The kernel gives a set that a dynset uses a size of
// 65535 elements when it has none (pin4/6 and the four maps). nft 1.0.6
// prints these rules as "delete @dnat4 { ... : ip daddr . tcp dport }
// dnat ip to ... map @dnat4" (the delete first, though it runs after the
// lookup), so "nft -f" of a listing would not do the same, and "nft -j"
// warns "stmt ops map have no json callback" for each of them and leaves
// the delete out of its JSON.
//
// The names are fixed: tests, README and the e2e harness use them. They
// avoid "dnat" and "snat", which the nft parser takes as keywords. With
// compat divert nft 1.0.6 cannot print the NFQUEUE target of an inet table ("XT target NFQUEUE
// not found") and warns that the table is managed by iptables-nft; the
// kernel runs the rule all the same.
//
// A Pin is, by Kind, one pinhole plus, if HasMap, its mapping; a passive
// range; or a reset flow. Table.Apply sends a
// Change (pins to add and to remove) as one netlink batch. It keeps
// track of which pin holds which element, so removing one of two pins
// with the same key leaves the element to the other. Change.Forget names
// pins whose elements the kernel consumed: a pinhole its data connection
// used (Translator turns a close with reason "used" into Forget, every
// other close into Remove). Apply drops their bookkeeping and sends
// nothing for them, so a used pinhole costs no netlink round trip; Memory
// models the same (Translate consumes a mapping, Admit a pinhole). Element removal uses
// NFT_MSG_DESTROYSETELEM (no error for an element the kernel already
// consumed or expired), which needs Linux 6.3 or later. Present is the
// watchdog's cheap check that nobody flushed the ruleset; Rebuild puts
// the table and the live pins back. Elements lists the sets and maps with
// the time left on each element.
package rules
