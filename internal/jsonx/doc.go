// Package jsonx holds the JSON helpers behind pkg/events and the resolver: a
// validator that accepts what encoding/json.Valid accepts and measures the
// nesting in the same pass, a scanner that splits already validated JSON
// into members and elements as encoding/json would, and appenders that
// write strings, times and raw JSON byte for byte as json.Marshal does,
// without reflection.
package jsonx
