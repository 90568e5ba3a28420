package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of embedded servers, all in this process,
// each with its own store, client port and route port on loopback.
type Cluster struct {
	Nodes []*Server
	t     testing.TB
}

// FreePort returns a loopback TCP port that nothing listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RunCluster starts n servers routed to each other as cluster "C" and waits
// until JetStream has a meta leader. Shut down at test cleanup.
func RunCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = FreePort(t)
	}
	var routes []*url.URL
	for _, p := range routePorts {
		u, _ := url.Parse(fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		routes = append(routes, u)
	}
	c := &Cluster{t: t}
	for i := 0; i < n; i++ {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       FreePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "C", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     routes,
		}
		s := &Server{Opts: o, t: t}
		s.start()
		t.Cleanup(s.Shutdown)
		c.Nodes = append(c.Nodes, s)
	}
	c.WaitReady(30 * time.Second)
	return c
}

// URL returns the comma-separated client URLs of every node.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// WaitReady waits until JetStream answers account info through the cluster.
func (c *Cluster) WaitReady(d time.Duration) {
	c.t.Helper()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		c.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("natstest: cluster not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StepDown asks the leader of a JetStream API asset to step down: subject is
// e.g. "$JS.API.STREAM.LEADER.STEPDOWN.COMMS_IN" or
// "$JS.API.CONSUMER.LEADER.STEPDOWN.COMMS_IN.resolver-0".
func StepDown(nc *nats.Conn, subject string) error {
	resp, err := nc.Request(subject, nil, 5*time.Second)
	if err != nil {
		return err
	}
	if strings.Contains(string(resp.Data), `"error"`) {
		return fmt.Errorf("natstest: %s: %s", subject, resp.Data)
	}
	return nil
}
