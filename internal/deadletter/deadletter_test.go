package deadletter

import "testing"

func TestPublishControl(t *testing.T) {
	for name, want := range map[string]bool{
		"Nats-Expected-Stream":       true,
		"nats-expected-last-seq":     true,
		"Nats-Msg-Id":                true,
		"Nats-TTL":                   true,
		"Nats-Rollup":                true,
		"Nats-Schedule":              true,
		"Nats-Schedule-Target":       true,
		"ce-id":                      false,
		"Commsops-Dlq-Reason":        false,
		"Nats-Something-Else":        false,
		"traceparent":                false,
		"Nats-Expected-Last-Subj-Sq": true,
	} {
		if got := publishControl(name); got != want {
			t.Errorf("publishControl(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMsgID(t *testing.T) {
	for _, c := range []struct{ stream, scope, want string }{
		{"COMMS_IN", "", "dlq-COMMS_IN-42"},
		{"COMMS_RESOLVED", "forwarder", "dlq-COMMS_RESOLVED-forwarder-42"},
	} {
		if got := MsgID(c.stream, c.scope, 42); got != c.want {
			t.Errorf("MsgID(%q, %q) = %q, want %q", c.stream, c.scope, got, c.want)
		}
	}
}
