//go:build js && wasm

package main

import "github.com/hack-pad/safejs"

// Rejection is the error for a JavaScript promise that rejected: Value is
// what it rejected with, handed back to JavaScript unchanged.
type Rejection struct {
	Value safejs.Value
}

// Error implements error. The module hands Value itself back to
// JavaScript, where its message is.
func (r *Rejection) Error() string { return "fetch-with-refresh: promise rejected" }

// await waits for jsPromise to settle. It takes no context: every promise
// the module awaits is a fetch whose AbortSignal ends it early. Like the
// standard library's roundtrip_js.go, the callbacks release themselves when
// the promise settles.
func await(jsPromise safejs.Value) (safejs.Value, error) {
	type result struct {
		value safejs.Value
		err   error
	}
	ch := make(chan result, 1)
	var onOK, onFail safejs.Func
	settle := func(r result) {
		onOK.Release()
		onFail.Release()
		ch <- r
	}
	var err error
	if onOK, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		settle(result{value: arg(args, 0)})
		return nil
	}); err != nil {
		return safejs.Undefined(), err
	}
	if onFail, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		settle(result{err: &Rejection{Value: arg(args, 0)}})
		return nil
	}); err != nil {
		onOK.Release()
		return safejs.Undefined(), err
	}
	if _, err := jsPromise.Call("then", onOK, onFail); err != nil {
		onOK.Release()
		onFail.Release()
		return safejs.Undefined(), err
	}
	r := <-ch
	return r.value, r.err
}

// arg returns args[i], or undefined when there are fewer arguments.
func arg(args []safejs.Value, i int) safejs.Value {
	if i < len(args) {
		return args[i]
	}
	return safejs.Undefined()
}

// global returns globalThis[name], or undefined.
func global(name string) safejs.Value {
	v, err := safejs.Global().Get(name)
	if err != nil {
		return safejs.Undefined()
	}
	return v
}

// get returns v[name], or undefined when v is not an object or has no such
// property.
func get(v safejs.Value, name string) safejs.Value {
	if t := v.Type(); t != safejs.TypeObject && t != safejs.TypeFunction {
		return safejs.Undefined()
	}
	p, err := v.Get(name)
	if err != nil {
		return safejs.Undefined()
	}
	return p
}
