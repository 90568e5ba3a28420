package main

import (
	"net"
	"strconv"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/commsops/commsops/internal/natstest"
)

// TestConnectErrorsQuoteNoSecret: when opsctl cannot connect, neither its
// error nor its logs quote a password or token given in NATS_URL; the error
// still names the server (user information redacted).
func TestConnectErrorsQuoteNoSecret(t *testing.T) {
	const password, token = "hunter2-pass", "tok-hunter2-0123456789"
	userSrv := natstest.Run(t, func(o *natsserver.Options) { o.Username, o.Password = "svc", "the-right-one" })
	tokenSrv := natstest.Run(t, func(o *natsserver.Options) { o.Authorization = "the-right-token" })
	hostOf := func(url string) string { return strings.TrimPrefix(url, "nats://") }
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) // nothing listens there
	l.Close()

	cases := []struct {
		name, url, want string
	}{
		{"wrong password", "nats://svc:" + password + "@" + hostOf(userSrv.URL()), "no NATS at nats://redacted@" + hostOf(userSrv.URL())},
		{"wrong token", "nats://" + token + "@" + hostOf(tokenSrv.URL()), "no NATS at nats://redacted@" + hostOf(tokenSrv.URL())},
		{"password, no server", "nats://svc:" + password + "@" + nobody, "no NATS at nats://redacted@" + nobody},
		{"token, no server", "nats://" + token + "@" + nobody, "no NATS at nats://redacted@" + nobody},
		{"no scheme", "svc:" + password + "@" + nobody, "no NATS at redacted@" + nobody},
		{"several servers", "nats://svc:" + password + "@" + nobody + ",nats://" + token + "@" + nobody,
			"no NATS at nats://redacted@" + nobody + ",nats://redacted@" + nobody},
		{"unescaped special characters", "nats://svc:" + password + "#?@" + nobody, "NATS_URL entry 1 is not a valid URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NATS_URL", tc.url)
			t.Setenv("NATS_CONNECT_TIMEOUT", "300ms")
			t.Setenv("COMMSOPS_LOG_LEVEL", "debug")
			_, stderr, err := opsctl(t, "get", "x")
			if err == nil {
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			for _, secret := range []string{password, token} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error quotes %q: %v", secret, err)
				}
				if strings.Contains(stderr, secret) {
					t.Errorf("the log quotes %q: %s", secret, stderr)
				}
			}
		})
	}
}
