package events

import (
	"fmt"

	"github.com/commsops/commsops/internal/graphid"
)

// OperationsOption configures an Operations.
type OperationsOption func(*operationsConfig) error

type operationsConfig struct {
	onError func(error)
}

// OperationsErrorHandler sets the function told about problems the live feed
// gets past: an undecodable event in COMMS_RESOLVED (wrapping ErrUndecodable)
// or a consumer error that it recovers from. Default: ignore them. f must be
// safe for concurrent use and must not block.
func OperationsErrorHandler(f func(error)) OperationsOption {
	return func(c *operationsConfig) error {
		if f == nil {
			return fmt.Errorf("%w: OperationsErrorHandler(nil)", ErrInvalidOption)
		}
		c.onError = f
		return nil
	}
}

// AwaitOption selects what Await waits for.
type AwaitOption func(*awaitConfig) error

type awaitConfig struct {
	operationID string   // normalised; "" follows the latest operation
	until       []Status // non-empty
}

// defaultUntil is what Await waits for without UntilStatus: an outcome.
var defaultUntil = []Status{StatusCompleted, StatusFailed, StatusStalled}

// ForOperation makes Await follow the operation with this id (compared
// normalised, as Graph writes ids in several forms) instead of the
// clientContext's latest operation.
func ForOperation(id string) AwaitOption {
	return func(c *awaitConfig) error {
		n := graphid.NormalizeID(id)
		if n == "" {
			return fmt.Errorf("%w: ForOperation(%s) needs an operation id", ErrInvalidOption, quoteShort(id))
		}
		c.operationID = n
		return nil
	}
}

// UntilStatus makes Await return once the operation has one of statuses
// (default: completed, failed or stalled). Each must be a valid status.
func UntilStatus(statuses ...Status) AwaitOption {
	return func(c *awaitConfig) error {
		if len(statuses) == 0 {
			return fmt.Errorf("%w: UntilStatus needs at least one status", ErrInvalidOption)
		}
		until := make([]Status, 0, len(statuses))
		for _, s := range statuses {
			p, err := ParseStatus(string(s))
			if err != nil {
				return fmt.Errorf("%w: UntilStatus: %w", ErrInvalidOption, err)
			}
			until = append(until, p)
		}
		c.until = until
		return nil
	}
}

func newAwaitConfig(opts []AwaitOption) (awaitConfig, error) {
	c := awaitConfig{until: defaultUntil}
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil AwaitOption", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}
