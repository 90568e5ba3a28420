package service

import (
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/commsops/commsops/internal/natsconn"
)

// Common is the configuration every process shares.
type Common struct {
	natsconn.Config
	ShutdownTimeout time.Duration `envconfig:"COMMSOPS_SHUTDOWN_TIMEOUT" default:"20s" desc:"deadline for draining and shutting down after SIGTERM"`
	LogFormat       string        `envconfig:"COMMSOPS_LOG_FORMAT" desc:"json or text (default: text in dev mode, json otherwise)"`
	LogLevel        string        `envconfig:"COMMSOPS_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
}

// ErrHelp is returned by Load when -h was asked for and the usage printed.
var ErrHelp = flag.ErrHelp

// Load parses args and fills cfg from the environment. The only flags are
// -h/-help and those that flags (when not nil) defines; everything else is
// environment. With -h it prints the flags and every variable with its
// default and description to out and returns ErrHelp.
func Load(name string, args []string, cfg any, out io.Writer, flags func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	if flags != nil {
		flags(fs)
	}
	fs.Usage = func() {
		if flags != nil {
			fmt.Fprintf(out, "%s flags:\n", name)
			fs.PrintDefaults()
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "%s: configured by environment variables:\n\n", name)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
		_ = envconfig.Usagef("", cfg, tw, "{{range .}}{{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}")
		_ = tw.Flush()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envconfig.Process("", cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Redacted returns the configuration as key/value pairs for a log line. A
// field tagged secret:"true" is masked when set; one tagged secret:"userinfo"
// holds URLs whose user information (user:password or a token) is removed.
func Redacted(cfg any) []any {
	var kv []any
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f, fv := t.Field(i), v.Field(i)
			if f.Anonymous && fv.Kind() == reflect.Struct {
				walk(fv)
				continue
			}
			key := f.Tag.Get("envconfig")
			if key == "" || !f.IsExported() {
				continue
			}
			val := fmt.Sprint(fv.Interface())
			switch f.Tag.Get("secret") {
			case "true":
				if !fv.IsZero() {
					val = "[masked]"
				}
			case "userinfo":
				val = natsconn.RedactURL(val)
			}
			kv = append(kv, key, val)
		}
	}
	v := reflect.ValueOf(cfg)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	walk(v)
	return kv
}

// Stderr is where main writes a fatal error when no logger exists yet.
var Stderr io.Writer = os.Stderr
