// Package rules owns the kernel side of pinholes: the nftables table,
// chains, sets and maps that admit exactly the data connections the
// inspector announced, and the NAT mappings they need.
//
// Memory is an in-memory model of that table with the kernel's semantics
// (one-shot pinholes, element timeouts). "ftpalg replay" and the tests use
// it to predict which data connections the kernel would admit; it never
// replaces the real table in the daemon.
package rules
