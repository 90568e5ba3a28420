package jsonx

// maxNesting is encoding/json's own nesting limit: its Valid refuses
// anything nested deeper.
const maxNesting = 10000

// ValidDepth reports in one pass whether data is valid JSON, exactly as
// encoding/json.Valid does (RFC 8259 grammar, bytes above 0x7F in strings
// taken as they are, at most 10000 levels of nesting), and for valid data
// how deeply its objects and arrays nest (0 for a scalar). FuzzValidDepth
// compares it with encoding/json.
func ValidDepth(data []byte) (valid bool, depth int) {
	v := validator{d: data}
	i := v.value(skipWS(data, 0), 0)
	if i < 0 || skipWS(data, i) != len(data) {
		return false, 0
	}
	return true, v.max
}

// validator walks a value at a time; max is the deepest nesting seen.
type validator struct {
	d   []byte
	max int
}

// skipWS returns the index of the first byte at or after i that is not JSON
// white space.
func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t') {
		i++
	}
	return i
}

// value checks the value starting at d[i] (white space already skipped),
// inside depth containers, and returns the index after it, or -1.
func (v *validator) value(i, depth int) int {
	d := v.d
	if i >= len(d) {
		return -1
	}
	switch c := d[i]; {
	case c == '{' || c == '[':
		return v.container(i, depth+1)
	case c == '"':
		return validString(d, i)
	case c == 't':
		return literal(d, i, "true")
	case c == 'f':
		return literal(d, i, "false")
	case c == 'n':
		return literal(d, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(d, i)
	}
	return -1
}

// container checks the object or array opening at d[i], at nesting depth.
func (v *validator) container(i, depth int) int {
	if depth > maxNesting {
		return -1
	}
	v.max = max(v.max, depth)
	d := v.d
	obj := d[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == closer {
		return i + 1
	}
	for {
		if obj {
			if i >= len(d) || d[i] != '"' {
				return -1
			}
			if i = validString(d, i); i < 0 {
				return -1
			}
			if i = skipWS(d, i); i >= len(d) || d[i] != ':' {
				return -1
			}
			i = skipWS(d, i+1)
		}
		if i = v.value(i, depth); i < 0 {
			return -1
		}
		i = skipWS(d, i)
		switch {
		case i >= len(d):
			return -1
		case d[i] == ',':
			i = skipWS(d, i+1)
		case d[i] == closer:
			return i + 1
		default:
			return -1
		}
	}
}

// validString checks the string opening at d[i] and returns the index after
// its closing quote, or -1: no control characters, only JSON's escapes.
func validString(d []byte, i int) int {
	for i++; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i++; i >= len(d) {
				return -1
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d) || !isHex(d[i+1]) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// literal checks that d[i:] starts with word.
func literal(d []byte, i int, word string) int {
	if len(d)-i < len(word) || string(d[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// validNumber checks the number starting at d[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(d []byte, i int) int {
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		j := digits(d, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := digits(d, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// digits returns the index after the run of digits starting at d[i].
func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}
