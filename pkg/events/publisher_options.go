package events

import (
	"fmt"
	"time"
)

// DefaultStoreTimeout is the default of StoreTimeout.
const DefaultStoreTimeout = 5 * time.Second

type publisherConfig struct {
	storeTimeout time.Duration
}

// PublisherOption configures a Publisher. NewPublisher returns an error
// wrapping ErrInvalidOption for an option with an impossible value.
type PublisherOption func(*publisherConfig) error

// StoreTimeout bounds how long PublishResponse waits for JetStream's ack when
// the context has no earlier deadline. Default DefaultStoreTimeout; d must be
// positive.
func StoreTimeout(d time.Duration) PublisherOption {
	return func(c *publisherConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: StoreTimeout %v must be positive", ErrInvalidOption, d)
		}
		c.storeTimeout = d
		return nil
	}
}
