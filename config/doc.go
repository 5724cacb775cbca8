// Package config owns ftpalg's configuration file: its YAML schema, the
// defaults of every setting, strict decoding and validation, and the
// rendering of the effective configuration (ftpalg check -print).
//
// The file is treated as untrusted input. Unknown keys, duplicate keys,
// wrong types, integer overflow, durations without a unit, aliases and
// multiple documents are errors, and every error is an *Error that names
// the line and the dotted key path it is about, for example
//
//	config: line 12: pinhole.mark: value 0 must be non-zero
//
// Parsing walks a yaml.Node tree against a table of known keys instead of
// decoding into structs, so that each error knows where it is. Settings a
// file leaves out keep the values of Default.
//
// The inspector's own limits live in conntrack.Policy; this package maps
// the policy section of the file onto that type and defers to
// Policy.Validate for what the inspector accepts. The package does no I/O
// beyond Load reading the file.
package config
