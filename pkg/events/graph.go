package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parsing limits. Bodies are also bounded in size by the ingest.
const (
	// MaxJSONDepth bounds the nesting of any parsed payload.
	MaxJSONDepth = 32
	// MaxItems bounds the resources of one notification callback (the items of
	// "value" plus the elements of array resourceData).
	MaxItems = 1000
)

// ResultInfo is Graph's resultInfo: code (2xx success, 4xx client error, 5xx
// server error), subcode and message. Numbers sent as strings are accepted.
type ResultInfo struct {
	Code    int    `json:"code"`
	Subcode int    `json:"subcode"`
	Message string `json:"message,omitempty"`
}

// UnmarshalJSON accepts code and subcode as numbers or numeric strings and
// ignores @odata.type and unknown fields.
func (r *ResultInfo) UnmarshalJSON(b []byte) error {
	var raw struct {
		Code    json.RawMessage `json:"code"`
		Subcode json.RawMessage `json:"subcode"`
		Message *string         `json:"message"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: resultInfo: %v", ErrInvalidPayload, err)
	}
	var err error
	if r.Code, err = looseInt(raw.Code); err != nil {
		return fmt.Errorf("%w: resultInfo.code: %v", ErrInvalidPayload, err)
	}
	if r.Subcode, err = looseInt(raw.Subcode); err != nil {
		return fmt.Errorf("%w: resultInfo.subcode: %v", ErrInvalidPayload, err)
	}
	if raw.Message != nil {
		r.Message = *raw.Message
	}
	return nil
}

func looseInt(b json.RawMessage) (int, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return 0, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		if s = strings.TrimSpace(s); s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		return int(n), err
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, err
	}
	// Converting an out-of-range float to int is implementation-defined in Go
	// (1e19 becomes math.MinInt64 on amd64): refuse instead of inventing a code.
	if f < math.MinInt32 || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s is out of range", b)
	}
	return int(f), nil
}

// Operation is a Graph commsOperation (any *Operation type) as found in an
// action response or a notification's resourceData.
type Operation struct {
	// ODataType is "@odata.type", e.g. "#microsoft.graph.playPromptOperation".
	ODataType string
	// ID is the normalised operation id; "" when null or absent.
	ID string
	// Status is the parsed status; "" when absent. StatusRaw keeps the original.
	Status    Status
	StatusRaw string
	// ClientContext as sent by the bot, verbatim.
	ClientContext string
	// ResultInfo, nil when absent or null.
	ResultInfo *ResultInfo
	// CompletionReason, e.g. "operationCanceled"; "" when absent.
	CompletionReason string
	// Extra holds every other field as received (@odata.etag, recordingLocation,
	// createdDateTime, ...), so nothing unknown is lost.
	Extra map[string]json.RawMessage
}

// ParseOperation parses one commsOperation object. It returns ErrInvalidJSON
// for non-objects, ErrInvalidStatus for an unknown status value, and
// ErrClientContextTooLong / ErrClientContextInvalid for a bad clientContext.
// Unknown fields are kept in Extra; an absent status leaves Status "".
func ParseOperation(data []byte) (*Operation, error) {
	if err := checkDepth(data); err != nil {
		return nil, fmt.Errorf("operation: %w", err)
	}
	return parseOperation(data)
}

// parseOperation is ParseOperation for data already checked by checkDepth.
func parseOperation(data []byte) (*Operation, error) {
	fields, err := fieldsOf(data)
	if err != nil {
		return nil, fmt.Errorf("operation: %w", err)
	}
	op := &Operation{}
	for name, v := range fields {
		switch name {
		case "@odata.type":
			op.ODataType, err = looseString(v)
		case "id":
			var id string
			id, err = looseString(v)
			op.ID = NormalizeID(id)
		case "status":
			op.StatusRaw, err = looseString(v)
			if err == nil && op.StatusRaw != "" {
				op.Status, err = ParseStatus(op.StatusRaw)
			}
		case "clientContext":
			op.ClientContext, err = looseString(v)
			if err == nil {
				err = ValidateClientContext(op.ClientContext)
			}
		case "resultInfo":
			if !isNull(v) {
				op.ResultInfo = &ResultInfo{}
				err = json.Unmarshal(v, op.ResultInfo)
			}
		case "completionReason":
			op.CompletionReason, err = looseString(v)
		default:
			if op.Extra == nil {
				op.Extra = make(map[string]json.RawMessage)
			}
			op.Extra[name] = v
		}
		if err != nil {
			return nil, fmt.Errorf("operation field %q: %w", name, err)
		}
	}
	return op, nil
}

// ValidateClientContext returns nil for a clientContext Graph would accept and
// commsops can carry: at most MaxClientContextLen characters of valid UTF-8
// with no control characters.
func ValidateClientContext(cc string) error {
	if !utf8.ValidString(cc) {
		return fmt.Errorf("%w: not UTF-8", ErrClientContextInvalid)
	}
	if n := utf8.RuneCountInString(cc); n > MaxClientContextLen {
		return fmt.Errorf("%w: %d characters, at most %d", ErrClientContextTooLong, n, MaxClientContextLen)
	}
	for i, r := range cc {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: control character U+%04X at byte %d", ErrClientContextInvalid, r, i)
		}
	}
	return nil
}

// Notification is one commsNotification item of a callback.
type Notification struct {
	ODataType string
	// ChangeType lower-cased ("updated", "deleted", "created"); ChangeTypeRaw keeps the original.
	ChangeType    string
	ChangeTypeRaw string
	// ResourceURL is resourceUrl, or the older resource when resourceUrl is absent.
	ResourceURL string
	// Path is what ResourceURL says.
	Path ResourcePath
	// Resources are the resourceData elements: one for an object, each element
	// for an array, none when absent or null.
	Resources []json.RawMessage
	// ResourceDataIsArray reports whether resourceData was an array.
	ResourceDataIsArray bool
	// Raw is the item as received.
	Raw json.RawMessage
}

// Notifications is a parsed commsNotifications callback.
type Notifications struct {
	ODataType string
	Items     []Notification
}

// ParseNotifications parses a Graph commsNotifications callback body. It
// accepts every quirk in FACTS.md (changeType casing, resource vs resourceUrl,
// resourceData as object or array, unknown fields) and returns an error wrapping
// ErrInvalidJSON, ErrInvalidPayload (no "value" array, a non-object item),
// ErrTooDeep or ErrTooManyItems otherwise.
func ParseNotifications(body []byte) (*Notifications, error) {
	fields, err := objectFields(body)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	n := &Notifications{}
	if t, ok := fields["@odata.type"]; ok {
		n.ODataType, _ = looseString(t)
	}
	value, ok := fields["value"]
	if !ok || isNull(value) {
		return nil, fmt.Errorf("notifications: %w: no \"value\" array", ErrInvalidPayload)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(value, &items); err != nil {
		return nil, fmt.Errorf("notifications: %w: \"value\" is not an array", ErrInvalidPayload)
	}
	total := 0
	for i, raw := range items {
		if b := bytes.TrimSpace(raw); len(b) == 0 || b[0] != '{' {
			return nil, fmt.Errorf("notifications: %w: value[%d] is not an object", ErrInvalidPayload, i)
		}
		item, err := parseNotification(raw)
		if err != nil {
			return nil, fmt.Errorf("notifications: value[%d]: %w", i, err)
		}
		total += max(1, len(item.Resources))
		if total > MaxItems {
			return nil, fmt.Errorf("notifications: %w: more than %d resources", ErrTooManyItems, MaxItems)
		}
		n.Items = append(n.Items, *item)
	}
	return n, nil
}

func parseNotification(raw json.RawMessage) (*Notification, error) {
	fields, err := fieldsOf(raw)
	if err != nil {
		return nil, err
	}
	n := &Notification{Raw: raw}
	var resource string
	for name, v := range fields {
		switch name {
		case "@odata.type":
			n.ODataType, err = looseString(v)
		case "changeType":
			n.ChangeTypeRaw, err = looseString(v)
			n.ChangeType = strings.ToLower(n.ChangeTypeRaw)
		case "resourceUrl":
			n.ResourceURL, err = looseString(v)
		case "resource":
			resource, err = looseString(v)
		case "resourceData":
			n.Resources, n.ResourceDataIsArray, err = resourceElements(v)
		}
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
	}
	if n.ResourceURL == "" {
		n.ResourceURL = resource
	}
	n.Path = ParseResourcePath(n.ResourceURL)
	return n, nil
}

func resourceElements(v json.RawMessage) ([]json.RawMessage, bool, error) {
	v = bytes.TrimSpace(v)
	switch {
	case isNull(v):
		return nil, false, nil
	case len(v) > 0 && v[0] == '{':
		return []json.RawMessage{v}, false, nil
	case len(v) > 0 && v[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(v, &elems); err != nil {
			return nil, true, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
		}
		for i, e := range elems {
			if e = bytes.TrimSpace(e); len(e) == 0 || e[0] != '{' {
				return nil, true, fmt.Errorf("%w: resourceData[%d] is not an object", ErrInvalidPayload, i)
			}
		}
		return elems, true, nil
	}
	return nil, false, fmt.Errorf("%w: resourceData is neither an object nor an array", ErrInvalidPayload)
}

// ResourceKind classifies one resourceData element by its @odata.type (a type
// ending in "Operation" is an operation; #microsoft.graph.call and
// #microsoft.graph.participant are what they say) and, failing that, by the
// notification's resource URL.
func ResourceKind(odataType string, path ResourcePath) Kind {
	t := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(odataType), "#"))
	switch {
	case strings.HasSuffix(t, "operation"):
		return KindOperation
	case t == "microsoft.graph.call":
		return KindCall
	case t == "microsoft.graph.participant":
		return KindParticipant
	case t == "" && path.IsOperation:
		return KindOperation
	}
	return KindOther
}

// ResourceType returns the @odata.type of a resourceData element, "" if absent.
func ResourceType(resource json.RawMessage) string {
	var t struct {
		T json.RawMessage `json:"@odata.type"`
	}
	if json.Unmarshal(resource, &t) != nil {
		return ""
	}
	s, _ := looseString(t.T)
	return s
}

// objectFields checks validity and depth and returns the top-level fields of
// a JSON object.
func objectFields(data []byte) (map[string]json.RawMessage, error) {
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	return fieldsOf(data)
}

// fieldsOf returns the top-level fields of a JSON object already checked by
// checkDepth (or nested in one that was).
func fieldsOf(data []byte) (map[string]json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidJSON)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	return fields, nil
}

// checkDepth returns ErrTooDeep when data nests deeper than MaxJSONDepth and
// ErrInvalidJSON when it is not valid JSON.
func checkDepth(data []byte) error {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > MaxJSONDepth {
				return fmt.Errorf("%w: deeper than %d", ErrTooDeep, MaxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// looseString returns a JSON string's value, "" for null, and the literal text
// of a number or boolean; objects and arrays are an error.
func looseString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	if isNull(v) {
		return "", nil
	}
	switch v[0] {
	case '"':
		// The common case, a string without escapes, needs no decoder. Invalid
		// UTF-8 goes to the decoder, which turns it into U+FFFD as it does
		// everywhere else: raw invalid bytes would otherwise reach CloudEvents
		// headers that no consumer can decode.
		if len(v) >= 2 && v[len(v)-1] == '"' {
			if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner) {
				return string(inner), nil
			}
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case '{', '[':
		return "", fmt.Errorf("%w: expected a string", ErrInvalidPayload)
	}
	return string(v), nil
}
