// Package randfill fills Go values with random contents for oracle tests: a
// hand-written encoder is compared with encoding/json on values where every
// exported field is set, nil or empty at random, so a field the encoder
// forgets shows up as a difference.
package randfill

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"time"
)

// pieces mixes plain text with everything encoding/json escapes.
var pieces = []string{"", "a", "cc-1", "<&>", `"\`, "\b\f\n\r\t\x00\x1f", "é", "\u2028\u2029", "\xff\xfe", "日本", "\x7f", " "}

// raws are json.RawMessage values: some already as json.Marshal writes
// them, some it must compact or escape.
var raws = []string{`1`, `"x<y"`, `{"b": [1, 2], "a": null}`, "\"\u2028\"", `"W/\"3\""`, `true`}

// String returns a random string of pieces that need escaping or not.
func String(r *rand.Rand) string {
	var b []byte
	for range r.IntN(4) {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return string(b)
}

// Fill sets every exported field reachable from v (settable) to random
// values. Pointers, slices and maps are nil a part of the time; times are
// zero a part of the time, in UTC or another zone otherwise.
func Fill(r *rand.Rand, v reflect.Value) { fill(r, v, 0) }

func fill(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(String(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt([]int64{0, 1, -1, 404, 1<<31 - 1}[r.IntN(5)])
	case reflect.Uint64, reflect.Uint:
		v.SetUint([]uint64{0, 1, 42, 1 << 63}[r.IntN(4)])
	case reflect.Pointer:
		if r.IntN(3) == 0 || depth > 4 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem(), depth+1)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(raws[r.IntN(len(raws))]))
			return
		}
		n := r.IntN(4) - 1 // -1: nil
		if n < 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			fill(r, v.Index(i), depth+1)
		}
	case reflect.Map:
		if r.IntN(2) == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range r.IntN(4) {
			k := reflect.New(v.Type().Key()).Elem()
			fill(r, k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			fill(r, e, depth+1)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if r.IntN(4) > 0 {
				loc := []*time.Location{time.UTC, time.FixedZone("x", 5400)}[r.IntN(2)]
				v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(2)*r.Int64N(1e9)).In(loc)))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	}
}
