//go:build js && wasm

package main

import (
	"fmt"
	"io"
	"net/http"

	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb"
	"github.com/fetch-with-refresh/fetch-with-refresh/bff/absorb/dostore"
	"github.com/syumai/workers/cloudflare"
)

// absorbBinding is the Durable Object namespace of AbsorbObject
// (absorb-object.mjs), bound in wrangler.toml.
const absorbBinding = "ABSORB"

// absorbStore returns the store of duplicate refreshes: one Durable Object
// per key of the ABSORB namespace. Without the binding it returns nil (an
// in-process store, which absorbs nothing on Workers, where each request
// runs in a fresh instance) and says why.
func absorbStore() (absorb.Store, error) {
	ns, err := cloudflare.NewDurableObjectNamespace(absorbBinding)
	if err != nil {
		return nil, fmt.Errorf("durable object binding %s: %w", absorbBinding, err)
	}
	store := dostore.New(func(key string) (stub dostore.Stub, err error) {
		defer recoverJS(&err) // syscall/js panics when JavaScript throws
		s, err := ns.Get(ns.IdFromName(key))
		if err != nil {
			return nil, err
		}
		return objectStub{s}, nil
	})
	// A refresh under a lease outlives its request if it must: its waiters,
	// in other requests, wait for its result.
	store.KeepAlive = func(end <-chan struct{}) {
		defer func() { _ = recover() }() // no execution context: nothing to extend
		cloudflare.WaitUntil(func() { <-end })
	}
	return store, nil
}

// objectStub is a Durable Object stub whose JavaScript exceptions are
// errors.
type objectStub struct{ s *cloudflare.DurableObjectStub }

func (o objectStub) Fetch(req *http.Request) (res *http.Response, err error) {
	defer recoverJS(&err)
	res, err = o.s.Fetch(req)
	if err == nil {
		res.Body = safeBody{res.Body}
	}
	return res, err
}

// safeBody is a stub's response body whose JavaScript exceptions are
// errors (syumai/workers panics reading a null body).
type safeBody struct{ rc io.ReadCloser }

func (b safeBody) Read(p []byte) (n int, err error) {
	defer recoverJS(&err)
	return b.rc.Read(p)
}

func (b safeBody) Close() (err error) {
	defer recoverJS(&err)
	return b.rc.Close()
}

// recoverJS turns a panic of syscall/js into *err.
func recoverJS(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("durable object: %v", r)
	}
}
