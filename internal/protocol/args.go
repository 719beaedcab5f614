package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Bytes is a byte field sent as standard base64 with padding.
type Bytes []byte

// UnmarshalJSON decodes a base64 JSON string strictly.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := unmarshalString(data, &s); err != nil {
		return errors.New("must be a base64 string")
	}
	v, err := decodeBase64(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// decodeBase64 decodes standard base64 with padding and nothing else: the
// standard decoder would skip CR and LF, so they are refused first.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("must be standard base64 with padding")
	}
	v, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("must be standard base64 with padding")
	}
	return v, nil
}

// MarshalJSON encodes b as standard base64.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

// Secret holds a PIN or PUK. It is decoded without passing through a Go
// string (strings cannot be cleared), refuses to be encoded or printed, and
// is cleared with Wipe after use.
type Secret []byte

// UnmarshalJSON accepts a JSON string of printable ASCII without escapes:
// PINs and PUKs are letters and digits, so anything else is a mistake.
func (s *Secret) UnmarshalJSON(data []byte) error {
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return errors.New("must be a string")
	}
	inner := data[1 : len(data)-1]
	for _, c := range inner {
		if c < 0x20 || c > 0x7e || c == '\\' || c == '"' {
			return errors.New("must be printable ASCII letters and digits")
		}
	}
	*s = append(Secret(nil), inner...)
	return nil
}

// MarshalJSON refuses: a secret never leaves the host.
func (Secret) MarshalJSON() ([]byte, error) { return nil, errors.New("secret not encodable") }

// String hides the value from fmt.
func (Secret) String() string { return "[REDACTED]" }

// Format hides the value from every fmt verb (%#v, %d, %x… included).
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[REDACTED]") }

// LogValue hides the value from log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Wipe overwrites the secret.
func (s Secret) Wipe() { clear(s) }

// Object is an argument that is itself a JSON object, passed on unread to
// the program that understands it (the exchange's requests): DecodeArgs
// checks only that it is an object and its size.
type Object json.RawMessage

// UnmarshalJSON keeps a JSON object, compacted: the exchange relay writes
// it into a line of its own, and a line break between the object's tokens
// (valid JSON, which a frame may carry) would end that line there and
// make the rest of the object a request of its own, with an id and a PIN
// of the sender's choosing.
func (o *Object) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("must be an object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return errors.New("must be an object")
	}
	*o = Object(b.Bytes())
	return nil
}

// MarshalJSON writes the object back unchanged ({} when empty).
func (o Object) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("{}"), nil
	}
	return o, nil
}

// Checker is implemented by argument structs with rules across fields.
type Checker interface{ Check() error }

// ArgError is a refused argument.
type ArgError struct {
	Arg    string
	Reason string
	// Missing is set for a required argument that is absent.
	Missing bool
}

func (e *ArgError) Error() string {
	if e.Missing {
		return fmt.Sprintf("argument %q is missing", e.Arg)
	}
	return fmt.Sprintf("argument %q: %s", e.Arg, e.Reason)
}

// BadArg returns the error for a refused argument, for Check methods.
func BadArg(arg, reason string) error { return &ArgError{Arg: arg, Reason: reason} }

// DecodeArgs decodes the args object raw into dst, a pointer to a struct
// whose fields carry a `json:"name"` tag and an optional `arg` tag with
// comma-separated rules:
//
//	required       the key must be present
//	max=N, min=N   bounds: bytes of a string, decoded bytes of Bytes and
//	               Secret, encoded bytes of an Object, the value of an int
//	oneof=a|b|c    the string must be one of these
//	hex=N          the string is exactly N lower-case hex digits
//
// Unknown keys, duplicate keys, null values and wrong types are refused.
// Every string and byte field must carry a max rule, so no field is
// unbounded; a struct without one panics in tests, not in production, as
// specs are built when first used. After the fields, dst's Check method (if
// any) tests rules that span fields.
func DecodeArgs(raw json.RawMessage, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	spec := specFor(v.Type())
	present := map[string]bool{}
	err := walkObject(raw, func(key string, val json.RawMessage) error {
		f, ok := spec.fields[key]
		if !ok {
			return &ArgError{Arg: key, Reason: "unknown argument"}
		}
		present[key] = true
		if string(val) == "null" {
			return &ArgError{Arg: key, Reason: "must not be null"}
		}
		if f.kind == kindBytes && len(val) > base64.StdEncoding.EncodedLen(f.max)+2 || f.kind == kindObject && len(val) > f.max {
			return &ArgError{Arg: key, Reason: fmt.Sprintf("longer than %d bytes", f.max)}
		}
		fv := v.FieldByIndex(f.index)
		if f.kind == kindBool && fv.Kind() == reflect.Pointer {
			fv.Set(reflect.New(fv.Type().Elem()))
			fv = fv.Elem()
		}
		if err := json.Unmarshal(val, fv.Addr().Interface()); err != nil {
			return &ArgError{Arg: key, Reason: typeReason(f, err)}
		}
		return f.check(fv)
	})
	if err != nil {
		var ae *ArgError
		if errors.As(err, &ae) {
			return argErr(ae)
		}
		return &Error{Code: ErrBadArgument, Err: err}
	}
	for _, f := range spec.order {
		if f.required && !present[f.name] {
			return argErr(&ArgError{Arg: f.name, Missing: true})
		}
	}
	if c, ok := dst.(Checker); ok {
		if err := c.Check(); err != nil {
			var ae *ArgError
			if errors.As(err, &ae) {
				return argErr(ae)
			}
			return err
		}
	}
	return nil
}

func argErr(ae *ArgError) *Error {
	code := ErrBadArgument
	d := map[string]any{"argument": ae.Arg}
	if ae.Missing {
		code = ErrMissingArgument
	} else {
		d["reason"] = ae.Reason
	}
	return &Error{Code: code, Details: d, Err: ae}
}

func typeReason(f *fieldSpec, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || strings.HasPrefix(err.Error(), "json:") {
		return "must be " + f.kind.String()
	}
	return err.Error()
}

type kind int

const (
	kindString kind = iota
	kindBytes
	kindSecret
	kindInt
	kindBool
	kindObject
)

func (k kind) String() string {
	return [...]string{"a string", "a base64 string", "a string", "an integer", "true or false", "an object"}[k]
}

type fieldSpec struct {
	name     string
	index    []int
	kind     kind
	required bool
	min, max int
	hasMax   bool
	oneof    []string
	hexLen   int
}

type argSpec struct {
	fields map[string]*fieldSpec
	order  []*fieldSpec
}

var specs sync.Map // reflect.Type → *argSpec

var (
	bytesType  = reflect.TypeOf(Bytes(nil))
	secretType = reflect.TypeOf(Secret(nil))
	objectType = reflect.TypeOf(Object(nil))
)

// specFor reads the tags of t once. A malformed tag is a programming error
// and panics; TestArgSpecs builds every command's spec so that it shows in
// tests.
func specFor(t reflect.Type) *argSpec {
	if s, ok := specs.Load(t); ok {
		return s.(*argSpec)
	}
	s := &argSpec{fields: map[string]*fieldSpec{}}
	addFields(s, t, nil)
	actual, _ := specs.LoadOrStore(t, s)
	return actual.(*argSpec)
}

// addFields adds t's fields to s, flattening embedded structs as
// encoding/json does.
func addFields(s *argSpec, t reflect.Type, path []int) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		index := append(slices.Clone(path), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			addFields(s, sf.Type, index)
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			panic(fmt.Sprintf("protocol: %s.%s has no json name", t.Name(), sf.Name))
		}
		f := &fieldSpec{name: name, index: index}
		switch {
		case sf.Type == bytesType:
			f.kind = kindBytes
		case sf.Type == secretType:
			f.kind = kindSecret
		case sf.Type == objectType:
			f.kind = kindObject
		case sf.Type.Kind() == reflect.String:
			f.kind = kindString
		case sf.Type.Kind() == reflect.Int:
			f.kind = kindInt
		case sf.Type.Kind() == reflect.Bool, sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Bool:
			f.kind = kindBool
		default:
			panic(fmt.Sprintf("protocol: %s.%s has unsupported type %s", t.Name(), sf.Name, sf.Type))
		}
		for _, rule := range strings.Split(sf.Tag.Get("arg"), ",") {
			k, val, _ := strings.Cut(rule, "=")
			switch k {
			case "":
			case "required":
				f.required = true
			case "max", "min", "hex":
				n, err := strconv.Atoi(val)
				if err != nil {
					panic(fmt.Sprintf("protocol: %s.%s: bad rule %q", t.Name(), sf.Name, rule))
				}
				switch k {
				case "max":
					f.max, f.hasMax = n, true
				case "min":
					f.min = n
				case "hex":
					f.hexLen, f.max, f.hasMax = n, n, true
				}
			case "oneof":
				f.oneof = strings.Split(val, "|")
				for _, o := range f.oneof {
					f.max = max(f.max, len(o))
				}
				f.hasMax = true
			default:
				panic(fmt.Sprintf("protocol: %s.%s: unknown rule %q", t.Name(), sf.Name, rule))
			}
		}
		if f.kind != kindBool && !f.hasMax {
			panic(fmt.Sprintf("protocol: %s.%s has no max rule", t.Name(), sf.Name))
		}
		if _, dup := s.fields[name]; dup {
			panic(fmt.Sprintf("protocol: %s: argument %q twice", t.Name(), name))
		}
		s.fields[name] = f
		s.order = append(s.order, f)
	}
}

// check applies f's rules to the decoded value v.
func (f *fieldSpec) check(v reflect.Value) error {
	bad := func(format string, a ...any) error {
		return &ArgError{Arg: f.name, Reason: fmt.Sprintf(format, a...)}
	}
	switch f.kind {
	case kindString:
		s := v.String()
		if len(s) > f.max {
			return bad("longer than %d bytes", f.max)
		}
		if len(s) < f.min {
			return bad("shorter than %d bytes", f.min)
		}
		if f.oneof != nil && !slices.Contains(f.oneof, s) {
			return bad("must be one of %s", strings.Join(f.oneof, ", "))
		}
		if f.hexLen > 0 && (len(s) != f.hexLen || strings.Trim(s, "0123456789abcdef") != "") {
			return bad("must be %d lower-case hex digits", f.hexLen)
		}
	case kindBytes, kindSecret, kindObject:
		n := v.Len()
		if n > f.max {
			return bad("longer than %d bytes", f.max)
		}
		if n < f.min {
			return bad("shorter than %d bytes", f.min)
		}
	case kindInt:
		n := int(v.Int())
		if n > f.max || n < f.min {
			return bad("must be between %d and %d", f.min, f.max)
		}
	}
	return nil
}
