package graphwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/commsops/commsops/internal/evterr"
	"github.com/commsops/commsops/internal/graphid"
	"github.com/commsops/commsops/internal/jsonx"
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
// It is events.ResultInfo's twin, field for field and tag for tag, and
// events.ResultInfo.UnmarshalJSON is this UnmarshalJSON.
type ResultInfo struct {
	Code    int    `json:"code"`
	Subcode int    `json:"subcode"`
	Message string `json:"message,omitempty"`
}

// UnmarshalJSON accepts code and subcode as numbers or numeric strings and
// ignores @odata.type and unknown fields. Field names match in any casing, as
// encoding/json matches them. null leaves r as it is.
func (r *ResultInfo) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("%w: resultInfo: not valid JSON", evterr.ErrInvalidPayload)
	}
	if isNull(b) {
		return nil
	}
	return r.parse(b)
}

// parse is UnmarshalJSON for a valid JSON value other than null. It reads the
// object as encoding/json reads it into {Code, Subcode json.RawMessage;
// Message *string}, then converts: code and subcode are always set (0 when
// absent), the message only when it is a string. Two members naming one field
// (in any casing) are ErrDuplicateMember.
func (r *ResultInfo) parse(b []byte) error {
	if !isObject(b) {
		return fmt.Errorf("%w: resultInfo: not a JSON object", evterr.ErrInvalidPayload)
	}
	var (
		buf           [8]jsonx.Member
		code, subcode []byte
		message       []byte // the string or null message; nil when absent
		known         = jsonx.KnownFields{Names: resultInfoFields[:]}
	)
	for _, m := range jsonx.AppendMembers(buf[:0], b) {
		i, err := known.Match(m.Name)
		if err != nil {
			return fmt.Errorf("resultInfo: %w", err)
		}
		switch i {
		case 0:
			code = m.Value
		case 1:
			subcode = m.Value
		case 2:
			if !isNull(m.Value) && m.Value[0] != '"' {
				return fmt.Errorf("%w: resultInfo.message: expected a string, got %s", evterr.ErrInvalidPayload, kindOf(m.Value))
			}
			message = m.Value
		}
	}
	var err error
	if r.Code, err = looseInt(code); err != nil {
		return fmt.Errorf("%w: resultInfo.code: %v", evterr.ErrInvalidPayload, err)
	}
	if r.Subcode, err = looseInt(subcode); err != nil {
		return fmt.Errorf("%w: resultInfo.subcode: %v", evterr.ErrInvalidPayload, err)
	}
	if !isNull(message) { // absent (nil) or null keeps r.Message
		r.Message = string(jsonx.StringValue(message))
	}
	return nil
}

var resultInfoFields = [...]string{"code", "subcode", "message"}

// looseInt returns the integer a valid JSON number or numeric string holds, 0
// for null or an empty string.
func looseInt(b []byte) (int, error) {
	if isNull(b) {
		return 0, nil
	}
	if b[0] == '"' {
		s := strings.TrimSpace(string(jsonx.StringValue(b)))
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil { // strconv's message would quote all of s
			return 0, fmt.Errorf("%s is not a 32-bit integer", quoteShort(s))
		}
		return int(n), nil
	}
	if b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return 0, fmt.Errorf("%s is not a number", kindOf(b))
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is not a number", quoteShort(b))
	}
	// Converting an out-of-range float to int is implementation-defined in Go
	// (1e19 becomes math.MinInt64 on amd64): refuse instead of inventing a code.
	if f < math.MinInt32 || f > math.MaxInt32 {
		return 0, fmt.Errorf("%s is out of range", quoteShort(b))
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
	// Status is the parsed status in Graph's spelling (see ParseStatus); ""
	// when absent. StatusRaw keeps the original.
	Status    string
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

// ParseOperation parses one commsOperation object: the JSON is checked
// (ErrInvalidJSON, ErrTooDeep) and then read as ParseResource reads it.
func ParseOperation(data []byte) (*Operation, error) {
	if err := checkDepth(data); err != nil {
		return nil, fmt.Errorf("operation: %w", err)
	}
	return parseOperation(data)
}

// ParseResource parses one resource of a parsed Notifications (already
// checked as part of its callback) as a commsOperation, without checking the
// JSON again. Use ParseOperation for JSON from anywhere else.
func ParseResource(res []byte) (*Operation, error) { return parseOperation(res) }

// ResourceIDs returns what the ingest keys an operation resource by, its
// normalized id and its clientContext, after the checks of ParseResource and
// with its errors, without making the Operation or copying its unknown
// fields.
func ResourceIDs(res []byte) (id, clientContext string, err error) {
	var op Operation
	if err := readOperation(&op, res, false); err != nil {
		return "", "", err
	}
	return op.ID, op.ClientContext, nil
}

// parseOperation parses one commsOperation object already checked by
// checkDepth. It returns evterr.ErrInvalidJSON for non-objects, evterr.ErrInvalidStatus for
// an unknown status value, and ErrClientContextTooLong / ErrClientContextInvalid
// for a bad clientContext. Unknown fields are kept in Extra (copied); an
// absent status leaves Status "".
// A member naming a known field in another casing than Graph's, or naming
// one a second time, is ErrDuplicateMember: encoding/json, a map reader and
// this parser would each read something else.
func parseOperation(data []byte) (*Operation, error) {
	op := &Operation{}
	if err := readOperation(op, data, true); err != nil {
		return nil, err
	}
	return op, nil
}

// readOperation is parseOperation into op, keeping the unknown fields in
// op.Extra only when extra is set.
func readOperation(op *Operation, data []byte, extra bool) error {
	if !isObject(data) {
		return fmt.Errorf("operation: %w: not a JSON object", evterr.ErrInvalidJSON)
	}
	var buf [16]jsonx.Member
	known := jsonx.KnownFields{Names: operationFields[:], Exact: true}
	// Every member, duplicates included: a duplicate of a known field is
	// refused, one of an unknown field keeps the last (as a map does).
	for _, m := range jsonx.AppendMembers(buf[:0], data) {
		v := m.Value
		i, err := known.Match(m.Name)
		if err != nil {
			return fmt.Errorf("operation: %w", err)
		}
		switch i {
		case -1:
			if !extra {
				break
			}
			if op.Extra == nil {
				op.Extra = make(map[string]json.RawMessage)
			}
			// A copy: the state cache keeps Extra, and must not keep the
			// whole payload it came in alive with it.
			op.Extra[string(m.Name)] = bytes.Clone(v)
		case 0:
			op.ODataType, err = looseString(v)
		case 1:
			var id string
			id, err = looseString(v)
			op.ID = graphid.NormalizeID(id)
		case 2:
			op.StatusRaw, err = looseString(v)
			if err == nil && op.StatusRaw != "" {
				op.Status, err = ParseStatus(op.StatusRaw)
			}
		case 3:
			op.ClientContext, err = looseString(v)
			if err == nil {
				err = graphid.ValidateClientContext(op.ClientContext)
			}
		case 4:
			if !isNull(v) {
				op.ResultInfo = &ResultInfo{}
				err = op.ResultInfo.parse(v)
			}
		case 5:
			op.CompletionReason, err = looseString(v)
		}
		if err != nil {
			return fmt.Errorf("operation field %s: %w", quoteShort(m.Name), err)
		}
	}
	return nil
}

// operationFields are the members parseOperation understands, in the order
// of parseOperation's cases.
var operationFields = [...]string{"@odata.type", "id", "status", "clientContext", "resultInfo", "completionReason"}

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

	// rdStart, rdEnd locate resourceData's value in Raw (both 0 when absent).
	rdStart, rdEnd int
}

// SharedLen returns the bytes of the item outside its resourceData value:
// what each resource's event copies when resourceData is an array.
func (n *Notification) SharedLen() int { return len(n.Raw) - (n.rdEnd - n.rdStart) }

// Narrowed returns the item with its resourceData value replaced by res
// (null when res is nil), every other byte as received.
func (n *Notification) Narrowed(res []byte) []byte {
	if res == nil {
		res = []byte("null")
	}
	out := make([]byte, 0, n.SharedLen()+len(res))
	out = append(out, n.Raw[:n.rdStart]...)
	out = append(out, res...)
	return append(out, n.Raw[n.rdEnd:]...)
}

// Notifications is a parsed commsNotifications callback.
type Notifications struct {
	ODataType string
	Items     []Notification
}

// ParseNotifications parses a Graph commsNotifications callback body. It
// accepts every quirk Graph is known to send (testdata/README.md: changeType casing, resource vs resourceUrl,
// resourceData as object or array, unknown fields) and returns an error wrapping
// evterr.ErrInvalidJSON, evterr.ErrInvalidPayload (no "value" array, a non-object item),
// evterr.ErrTooDeep or evterr.ErrTooManyItems otherwise. The result's raw parts (Raw,
// Resources) share body's memory: do not modify body while using them.
func ParseNotifications(body []byte) (*Notifications, error) {
	if err := checkDepth(body); err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	if !isObject(body) {
		return nil, fmt.Errorf("notifications: %w: not a JSON object", evterr.ErrInvalidJSON)
	}
	n := &Notifications{}
	var (
		buf   [4]jsonx.Member
		value []byte
		known = jsonx.KnownFields{Names: notificationsFields[:], Exact: true}
	)
	for _, m := range jsonx.AppendMembers(buf[:0], body) {
		i, err := known.Match(m.Name)
		if err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		switch i {
		case 0:
			n.ODataType, _ = looseString(m.Value)
		case 1:
			value = m.Value
		}
	}
	if isNull(value) {
		return nil, fmt.Errorf("notifications: %w: no \"value\" array", evterr.ErrInvalidPayload)
	}
	if value[0] != '[' {
		return nil, fmt.Errorf("notifications: %w: \"value\" is not an array", evterr.ErrInvalidPayload)
	}
	total := 0
	for i, raw := range jsonx.AppendElements(nil, value) {
		if raw[0] != '{' {
			return nil, fmt.Errorf("notifications: %w: value[%d] is not an object", evterr.ErrInvalidPayload, i)
		}
		item, err := parseNotification(raw)
		if err != nil {
			return nil, fmt.Errorf("notifications: value[%d]: %w", i, err)
		}
		total += max(1, len(item.Resources))
		if total > MaxItems {
			return nil, fmt.Errorf("notifications: %w: more than %d resources", evterr.ErrTooManyItems, MaxItems)
		}
		n.Items = append(n.Items, *item)
	}
	return n, nil
}

// parseNotification parses one item already checked by checkDepth. A member
// naming a known field in another casing, or a second time, is
// ErrDuplicateMember (see parseOperation).
func parseNotification(raw []byte) (*Notification, error) {
	if !isObject(raw) {
		return nil, fmt.Errorf("%w: not a JSON object", evterr.ErrInvalidJSON)
	}
	var buf [8]jsonx.Member
	n := &Notification{Raw: raw}
	var resource string
	known := jsonx.KnownFields{Names: notificationFields[:], Exact: true}
	for _, m := range jsonx.AppendMembers(buf[:0], raw) {
		v := m.Value
		i, err := known.Match(m.Name)
		if err != nil {
			return nil, err
		}
		switch i {
		case 0:
			n.ODataType, err = looseString(v)
		case 1:
			n.ChangeTypeRaw, err = looseString(v)
			n.ChangeType = strings.ToLower(n.ChangeTypeRaw)
		case 2:
			n.ResourceURL, err = looseString(v)
		case 3:
			resource, err = looseString(v)
		case 4:
			n.Resources, n.ResourceDataIsArray, err = resourceElements(v)
			// v is a sub-slice of raw: its offset is what raw has beyond it.
			n.rdStart = cap(raw) - cap(v)
			n.rdEnd = n.rdStart + len(v)
		}
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", quoteShort(m.Name), err)
		}
	}
	if n.ResourceURL == "" {
		n.ResourceURL = resource
	}
	n.Path = ParseResourcePath(n.ResourceURL)
	return n, nil
}

// ParseNotificationItem parses the data of a notification event from COMMS_IN:
// one commsNotification item whose resourceData is a single resource (or absent).
func ParseNotificationItem(data []byte) (*Notification, error) {
	if err := checkDepth(data); err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	n, err := parseNotification(data)
	if err != nil {
		return nil, fmt.Errorf("notification: %w", err)
	}
	return n, nil
}

// ParseOperationNotification is ParseNotificationItem followed by
// ParseOperation of the item's resource, checking the JSON once. It returns
// the item and its operation, nil when the item has no resource.
func ParseOperationNotification(data []byte) (*Notification, *Operation, error) {
	n, err := ParseNotificationItem(data)
	if err != nil || len(n.Resources) == 0 {
		return n, nil, err
	}
	op, err := parseOperation(n.Resources[0])
	if err != nil {
		return nil, nil, err
	}
	return n, op, nil
}

// notificationsFields and notificationFields are the members of a callback
// and of one of its items that the parser understands.
var (
	notificationsFields = [...]string{"@odata.type", "value"}
	notificationFields  = [...]string{"@odata.type", "changeType", "resourceUrl", "resource", "resourceData"}
)

// resourceElements returns the resources of a valid resourceData value.
func resourceElements(v []byte) ([]json.RawMessage, bool, error) {
	switch {
	case isNull(v):
		return nil, false, nil
	case v[0] == '{':
		return []json.RawMessage{v}, false, nil
	case v[0] == '[':
		var elems []json.RawMessage
		for i, e := range jsonx.AppendElements(nil, v) {
			if e[0] != '{' {
				return nil, true, fmt.Errorf("%w: resourceData[%d] is not an object", evterr.ErrInvalidPayload, i)
			}
			elems = append(elems, e)
		}
		return elems, true, nil
	}
	return nil, false, fmt.Errorf("%w: resourceData is neither an object nor an array", evterr.ErrInvalidPayload)
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

// resourceType returns the @odata.type of a valid JSON resourceData element
// (its name matched in any casing): the last @odata.type member,
// as encoding/json reads it.
func resourceType(resource []byte) string {
	t, _ := ResourceType(resource)
	return t
}

// ResourceType returns the @odata.type of a valid JSON resourceData element
// as resourceType reads it, and ErrDuplicateMember when two members name
// @odata.type: the one field of every resource the ingest reads (it decides
// the event's type and key).
func ResourceType(resource []byte) (string, error) {
	var (
		buf   [16]jsonx.Member
		t     []byte
		known = jsonx.KnownFields{Names: []string{"@odata.type"}, Exact: true}
		dup   error
	)
	for _, m := range jsonx.AppendMembers(buf[:0], resource) {
		i, err := known.Match(m.Name)
		if err != nil && dup == nil {
			dup = fmt.Errorf("resourceData: %w", err)
		}
		if i == 0 {
			t = m.Value
		}
	}
	s, _ := looseString(t)
	return s, dup
}

// checkDepth returns evterr.ErrTooDeep when data nests deeper than MaxJSONDepth and
// evterr.ErrInvalidJSON when it is not valid JSON.
func checkDepth(data []byte) error {
	// One pass for both: validity first, as encoding/json.Valid decides it.
	valid, depth := jsonx.ValidDepth(data)
	if !valid {
		var v any
		err := json.Unmarshal(data, &v)
		return fmt.Errorf("%w: %v", evterr.ErrInvalidJSON, err)
	}
	if depth > MaxJSONDepth {
		return fmt.Errorf("%w: deeper than %d", evterr.ErrTooDeep, MaxJSONDepth)
	}
	return nil
}

// isNull reports whether a valid JSON value is null or absent (empty).
func isNull(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// isObject reports whether valid JSON is an object.
func isObject(v []byte) bool {
	i := jsonx.SkipSpace(v, 0)
	return i < len(v) && v[i] == '{'
}

// kindOf names the JSON type of a valid value, for errors.
func kindOf(v []byte) string {
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// setString stores a valid JSON string's value in *dst as encoding/json
// decodes into a string field: null leaves *dst alone, other types are an
// error.
func setString(dst *string, v []byte) error {
	switch {
	case isNull(v):
		return nil
	case v[0] != '"':
		return fmt.Errorf("expected a string, got %s", kindOf(v))
	}
	*dst = string(jsonx.StringValue(v))
	return nil
}

// looseString returns the value of a valid JSON string (invalid UTF-8 turned
// into U+FFFD, as encoding/json decodes it: raw invalid bytes would otherwise
// reach CloudEvents headers that no consumer can decode), "" for null, and the
// literal text of a number or boolean; objects and arrays are an error.
func looseString(v []byte) (string, error) {
	v = bytes.TrimSpace(v)
	if isNull(v) {
		return "", nil
	}
	switch v[0] {
	case '"':
		return string(jsonx.StringValue(v)), nil
	case '{', '[':
		return "", fmt.Errorf("%w: expected a string", evterr.ErrInvalidPayload)
	}
	return string(v), nil
}
