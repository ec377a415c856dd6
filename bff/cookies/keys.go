package cookies

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// KeySize is the size of a session key: 32 bytes (AES-256-GCM).
const KeySize = 32

// ErrKeys is wrapped by the errors of ParseKeys.
var ErrKeys = errors.New("cookies: session keys")

// Keys seal and open sessions: the first key seals, every key opens, so
// that keys rotate (put the new key first, keep the old one until the
// sessions it sealed have been re-sealed or have expired, then drop it).
// Each sealed session names its key by an id derived from the key.
type Keys struct {
	keys []key
}

type key struct {
	id   [4]byte
	aead cipher.AEAD
}

// ParseKeys reads a comma-separated list of base64 keys of KeySize bytes
// (standard or URL alphabet, padded or not), as `openssl rand -base64 32`
// prints them. The errors name the key's position, never its value.
func ParseKeys(list string) (*Keys, error) {
	var ks Keys
	for i, field := range strings.Split(list, ",") {
		field = strings.TrimSpace(field)
		raw, err := decodeKey(field)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("%w: key %d is not %d bytes of base64 (make one with `openssl rand -base64 32`)", ErrKeys, i+1, KeySize)
		}
		k, err := newKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %w", ErrKeys, i+1, err)
		}
		for _, other := range ks.keys {
			if other.id == k.id {
				return nil, fmt.Errorf("%w: key %d is listed twice", ErrKeys, i+1)
			}
		}
		ks.keys = append(ks.keys, k)
	}
	return &ks, nil
}

// decodeKey reads one base64 key in any of its usual forms.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// GenerateKeys returns Keys with one new random key, for a single
// instance whose sessions need not outlive it.
func GenerateKeys() *Keys {
	raw := make([]byte, KeySize)
	_, _ = rand.Read(raw) // never fails (crypto/rand)
	k, err := newKey(raw)
	if err != nil {
		panic(err) // a 32-byte AES key always works
	}
	return &Keys{keys: []key{k}}
}

func newKey(raw []byte) (key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(append([]byte("fetch-with-refresh session key id\x00"), raw...))
	var k key
	copy(k.id[:], sum[:])
	k.aead = aead
	return k, nil
}

// processKeys are the Keys of a Codec without any: one random key per
// process.
var processKeys = sync.OnceValue(GenerateKeys)

// sealVersion is the first byte of a sealed session.
const sealVersion = 1

// sealOverhead is what sealing adds to the plaintext: the version, the
// key id, the nonce and the tag.
const sealOverhead = 1 + 4 + 12 + 16

// aad binds a sealed value to its use.
var aad = []byte("fetch-with-refresh session v1")

// seal encrypts plain under the first key: version, key id, nonce, then
// the ciphertext and its tag.
func (ks *Keys) seal(plain []byte) []byte {
	k := ks.keys[0]
	out := make([]byte, 1+4+12, sealOverhead+len(plain))
	out[0] = sealVersion
	copy(out[1:5], k.id[:])
	_, _ = rand.Read(out[5:17])
	return k.aead.Seal(out, out[5:17], plain, aad)
}

// errOpen is the error of a sealed value that does not open: tampered,
// truncated, sealed by a key no longer listed, or not ours at all.
var errOpen = errors.New("cookies: the session does not open")

// open decrypts a value that seal made under any of the keys.
func (ks *Keys) open(sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, errOpen
	}
	for _, k := range ks.keys {
		if [4]byte(sealed[1:5]) != k.id {
			continue
		}
		plain, err := k.aead.Open(nil, sealed[5:17], sealed[17:], aad)
		if err != nil {
			return nil, errOpen
		}
		return plain, nil
	}
	return nil, errOpen
}
