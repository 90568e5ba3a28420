package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// The functions in this file walk JSON that has already been validated (by
// checkDepth, or by encoding/json before it calls an UnmarshalJSON method).
// They return sub-slices of the input instead of decoding into maps, so that
// a payload is checked once and then split without being scanned again per
// nesting level. Their results equal encoding/json's for valid input
// (FuzzMembers compares them); on invalid input they stop
// early rather than fail, which is why they are never given unchecked bytes.

// member is one name/value pair of a JSON object: the name unescaped, the
// value raw and without surrounding white space.
type member struct {
	name, value []byte
}

// appendMembers appends the members of a valid JSON object to dst, in order,
// duplicates included, and returns the extended slice. obj that is not an
// object appends nothing.
func appendMembers(dst []member, obj []byte) []member {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return dst
	}
	i = skipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		end := skipString(obj, i)
		name := jsonStringValue(obj[i:end])
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return dst
		}
		i = skipSpace(obj, i+1)
		vend := skipValue(obj, i)
		dst = append(dst, member{name: name, value: obj[i:vend]})
		i = skipSpace(obj, vend)
		if i >= len(obj) || obj[i] != ',' {
			return dst
		}
		i = skipSpace(obj, i+1)
	}
	return dst
}

// knownFields tracks which of up to 32 known field names the members of one
// object have named, so that a second member naming the same field is
// refused: encoding/json keeps the last of them, a map-based reader may keep
// another, and the tolerant parsers here must not pick a third meaning.
// With exact set (Graph's own objects, whose names Graph writes in one
// casing), a member naming a known field in another casing is refused too:
// encoding/json would read it as that field and a map-based reader would not.
type knownFields struct {
	names []string
	exact bool
	seen  uint32
}

// match returns the index of the field that name matches as encoding/json
// matches struct fields (exactly or in another casing, as bytes.EqualFold
// folds), or -1. It returns ErrDuplicateMember when an earlier member of the
// object already matched that field, or, with exact, when name is the
// field's name in another casing.
func (k *knownFields) match(name []byte) (int, error) {
	for i, f := range k.names {
		if !bytes.EqualFold(name, []byte(f)) {
			continue
		}
		if k.exact && string(name) != f {
			return i, fmt.Errorf("%w: %s names %q in another casing", ErrDuplicateMember, quoteShort(name), f)
		}
		if k.seen&(1<<i) != 0 {
			return i, fmt.Errorf("%w: %s names %q a second time", ErrDuplicateMember, quoteShort(name), f)
		}
		k.seen |= 1 << i
		return i, nil
	}
	return -1, nil
}

// appendElements appends the raw elements (without surrounding white space)
// of a valid JSON array to dst, in order, and returns the extended slice. arr
// that is not an array appends nothing.
func appendElements(dst [][]byte, arr []byte) [][]byte {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return dst
	}
	i = skipSpace(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := skipValue(arr, i)
		if end == i {
			return dst
		}
		dst = append(dst, arr[i:end])
		i = skipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return dst
		}
		i = skipSpace(arr, i+1)
	}
	return dst
}

// jsonStringValue returns the value of a valid JSON string literal (quotes
// included in s), as encoding/json decodes it (invalid UTF-8 becomes U+FFFD).
// Without escapes it is a sub-slice of s.
func jsonStringValue(s []byte) []byte {
	if len(s) < 2 {
		return nil
	}
	inner := s[1 : len(s)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	var v string
	if json.Unmarshal(s, &v) != nil {
		return inner
	}
	return []byte(v)
}

func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string literal starting at d[i].
func skipString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(d)
}

// skipValue returns the index just past the value starting at d[i].
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				i = skipString(d, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(d)
	}
	for ; i < len(d); i++ {
		switch d[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// appendCompact appends valid JSON to dst without insignificant white space,
// as json.Compact writes it, and returns the extended slice.
func appendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end := skipString(v, i)
			dst = append(dst, v[i:end]...)
			i = end - 1
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
