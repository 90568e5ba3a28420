package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/commsops/commsops/internal/evterr"
)

// The functions in this file walk JSON that has already been validated (by
// checkDepth, or by encoding/json before it calls an UnmarshalJSON method).
// They return sub-slices of the input instead of decoding into maps, so that
// a payload is checked once and then split without being scanned again per
// nesting level. Their results equal encoding/json's for valid input
// (FuzzMembers compares them); on invalid input they stop
// early rather than fail, which is why they are never given unchecked bytes.

// Member is one name/value pair of a JSON object: the name unescaped, the
// value raw and without surrounding white space.
type Member struct {
	Name, Value []byte
}

// AppendMembers appends the members of a valid JSON object to dst, in order,
// duplicates included, and returns the extended slice. obj that is not an
// object appends nothing.
func AppendMembers(dst []Member, obj []byte) []Member {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return dst
	}
	i = SkipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		end := SkipString(obj, i)
		name := StringValue(obj[i:end])
		i = SkipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return dst
		}
		i = SkipSpace(obj, i+1)
		vend := SkipValue(obj, i)
		dst = append(dst, Member{Name: name, Value: obj[i:vend]})
		i = SkipSpace(obj, vend)
		if i >= len(obj) || obj[i] != ',' {
			return dst
		}
		i = SkipSpace(obj, i+1)
	}
	return dst
}

// KnownFields tracks which of up to 32 known field names the members of one
// object have named, so that a second member naming the same field is
// refused: encoding/json keeps the last of them, a map-based reader may keep
// another, and the tolerant parsers here must not pick a third meaning.
// With Exact set (Graph's own objects, whose names Graph writes in one
// casing), a member naming a known field in another casing is refused too:
// encoding/json would read it as that field and a map-based reader would not.
type KnownFields struct {
	Names []string
	Exact bool
	seen  uint32
}

// Match returns the index of the field that name matches as encoding/json
// matches struct fields (exactly or in another casing, as bytes.EqualFold
// folds), or -1. It returns evterr.ErrDuplicateMember when an earlier member of the
// object already matched that field, or, with Exact, when name is the
// field's name in another casing.
func (k *KnownFields) Match(name []byte) (int, error) {
	for i, f := range k.Names {
		if !bytes.EqualFold(name, []byte(f)) {
			continue
		}
		if k.Exact && string(name) != f {
			return i, fmt.Errorf("%w: %s names %q in another casing", evterr.ErrDuplicateMember, QuoteShort(name), f)
		}
		if k.seen&(1<<i) != 0 {
			return i, fmt.Errorf("%w: %s names %q a second time", evterr.ErrDuplicateMember, QuoteShort(name), f)
		}
		k.seen |= 1 << i
		return i, nil
	}
	return -1, nil
}

// AppendElements appends the raw elements (without surrounding white space)
// of a valid JSON array to dst, in order, and returns the extended slice. arr
// that is not an array appends nothing.
func AppendElements(dst [][]byte, arr []byte) [][]byte {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return dst
	}
	i = SkipSpace(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := SkipValue(arr, i)
		if end == i {
			return dst
		}
		dst = append(dst, arr[i:end])
		i = SkipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			return dst
		}
		i = SkipSpace(arr, i+1)
	}
	return dst
}

// StringValue returns the value of a valid JSON string literal (quotes
// included in s), as encoding/json decodes it (invalid UTF-8 becomes U+FFFD).
// Without escapes it is a sub-slice of s.
func StringValue(s []byte) []byte {
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

func SkipSpace(d []byte, i int) int {
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

// SkipString returns the index just past the string literal starting at d[i].
func SkipString(d []byte, i int) int {
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

// SkipValue returns the index just past the value starting at d[i].
func SkipValue(d []byte, i int) int {
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		return SkipString(d, i)
	case '{', '[':
		depth := 0
		for ; i < len(d); i++ {
			switch d[i] {
			case '"':
				i = SkipString(d, i) - 1
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

// AppendCompact appends valid JSON to dst without insignificant white space,
// as json.Compact writes it, and returns the extended slice.
func AppendCompact(dst, v []byte) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			end := SkipString(v, i)
			dst = append(dst, v[i:end]...)
			i = end - 1
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// ShortLen is how many bytes of an input value an error message quotes.
const ShortLen = 32

// QuoteShort returns b quoted for an error message: whole when it is at most
// ShortLen bytes, else its first ShortLen bytes (cut at a rune boundary)
// followed by how long it was. No error of pkg/events echoes more of any
// input value, so an answer or log line built from one stays short.
func QuoteShort[T ~string | ~[]byte](b T) string {
	if len(b) <= ShortLen {
		return strconv.Quote(string(b))
	}
	cut := ShortLen
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(string(b[:cut])), len(b))
}
