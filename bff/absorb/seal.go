package absorb

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/fetch-with-refresh/fetch-with-refresh/refresh/authclient"
)

// Labels that separate what is derived from the presented tokens: the
// lookup key (which a Store sees) and the sealing key (which it never
// does) come from different derivations, so the one says nothing about
// the other.
const (
	keyLabel  = "fetch-with-refresh absorb key v2"
	sealLabel = "fetch-with-refresh absorb seal v1"
)

// errOpen means a stored value could not be opened: it was not sealed
// under this refresh token, or it was altered.
var errOpen = errors.New("absorb: stored value does not open")

// Presented is what a refresh presents: the session's tokens and the
// browser's binding. Refreshes absorb one another only when they present
// all three alike.
type Presented struct {
	// RefreshToken and AccessToken are the session's pair (AccessToken
	// empty when the request had none).
	RefreshToken, AccessToken string
	// Binding is the random value that the browser which holds the
	// session keeps in a cookie of its own (bff/cookies): tabs and a
	// server-rendered page of that browser share it, a copy of the
	// session's cookies taken without it does not.
	Binding string
}

// Key returns the Store key of a refresh that presents p: the hex SHA-256
// of its fields, length-prefixed, under a label of its own. A host that
// records it (the session cookie does) can Forget the result stored
// under it.
func (p Presented) Key() string { return lookupKey(p.RefreshToken, p.AccessToken, p.Binding) }

// lookupKey returns the hex SHA-256 of parts, each length-prefixed, under
// keyLabel.
func lookupKey(parts ...string) string {
	h := sha256.New()
	h.Write([]byte(keyLabel))
	for _, s := range parts {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sealed is the plaintext of a stored value.
type sealed struct {
	Access  string `json:"a"`
	Refresh string `json:"r"`
	// Expires and Issued are the access token's expiry and when the pair
	// was obtained, in Unix milliseconds: Issued tells its lifetime.
	Expires int64 `json:"e"`
	Issued  int64 `json:"i"`
}

// aead returns AES-256-GCM under the key derived from the presented
// refresh token with HKDF-SHA256: only a presenter of that token can open
// what was sealed for it.
func aead(refresh string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(refresh), nil, sealLabel, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts t, obtained at issued, for presenters of refresh, bound to
// key (the additional data): nonce || ciphertext.
func seal(refresh, key string, t authclient.Tokens, issued time.Time) ([]byte, error) {
	plain, err := json.Marshal(sealed{t.AccessToken, t.RefreshToken, t.Expires.UnixMilli(), issued.UnixMilli()})
	if err != nil {
		return nil, err
	}
	g, err := aead(refresh)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plain)+g.Overhead())
	_, _ = rand.Read(nonce) // never fails (crypto/rand documents it)
	return g.Seal(nonce, nonce, plain, []byte(key)), nil
}

// open reverses seal: the pair and when it was obtained, or errOpen.
func open(refresh, key string, value []byte) (authclient.Tokens, time.Time, error) {
	g, err := aead(refresh)
	if err != nil {
		return authclient.Tokens{}, time.Time{}, err
	}
	if len(value) < g.NonceSize() {
		return authclient.Tokens{}, time.Time{}, errOpen
	}
	plain, err := g.Open(nil, value[:g.NonceSize()], value[g.NonceSize():], []byte(key))
	if err != nil {
		return authclient.Tokens{}, time.Time{}, errOpen
	}
	var s sealed
	if err := json.Unmarshal(plain, &s); err != nil {
		return authclient.Tokens{}, time.Time{}, errOpen
	}
	return authclient.Tokens{AccessToken: s.Access, RefreshToken: s.Refresh, Expires: time.UnixMilli(s.Expires)},
		time.UnixMilli(s.Issued), nil
}
