package card

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// digestInfoPrefix is the DER DigestInfo header of PKCS#1 v1.5 signatures
// (RFC 8017 §9.2, note 1).
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// ErrUnsupported reports an algorithm or option the key cannot do.
var ErrUnsupported = errors.New("unsupported algorithm for this key")

// Sign verifies pin and signs digest with the key of certificate id, in one
// transaction. opts.HashFunc() names the digest's hash; *rsa.PSSOptions
// selects RSASSA-PSS, otherwise RSA keys sign PKCS#1 v1.5 and EC keys
// return an ASN.1 ECDSA signature. The PIN is verified right before the
// signature, as slot 9C's "PIN always" policy requires, and never retried.
func (p *PIV) Sign(id string, digest []byte, opts crypto.SignerOpts, pin []byte) ([]byte, error) {
	if err := checkFormat(pin); err != nil {
		return nil, err
	}
	c, err := p.keyFor(id)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if h := opts.HashFunc(); h != 0 && len(digest) != h.Size() {
		return nil, fmt.Errorf("sign: digest of %d bytes for %v: %w", len(digest), h, ErrUnsupported)
	}
	block, alg, err := signatureInput(c.Cert.PublicKey, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var sig []byte
	err = p.do("sign", func() error {
		return p.withPIN(pin, func() (err error) {
			sig, err = p.generalAuthenticate(c.Slot, alg, block)
			return err
		})
	})
	return sig, err
}

// signatureInput is what the card's raw key operation gets: the encoded
// RSA block, or the digest itself for ECDSA.
func signatureInput(pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) ([]byte, byte, error) {
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, 0, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if _, pss := opts.(*rsa.PSSOptions); pss || len(digest) == 0 {
			return nil, 0, ErrUnsupported
		}
		return digest, alg, nil
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			block, err := emsaPSSEncode(digest, k.N.BitLen()-1, pss, rand.Reader)
			return block, alg, err
		}
		block, err := pkcs1v15SignBlock(k.Size(), opts.HashFunc(), digest)
		return block, alg, err
	}
	return nil, 0, ErrUnsupported
}

// pkcs1v15SignBlock builds EMSA-PKCS1-v1_5: 00 01 FF… 00 DigestInfo
// (RFC 8017 §9.2). Hash 0 signs digest as is (a prepared DigestInfo).
func pkcs1v15SignBlock(k int, h crypto.Hash, digest []byte) ([]byte, error) {
	prefix, ok := digestInfoPrefix[h]
	if h != 0 && !ok {
		return nil, ErrUnsupported
	}
	t := len(prefix) + len(digest)
	if k < t+11 {
		return nil, fmt.Errorf("digest too long for key: %w", ErrUnsupported)
	}
	em := make([]byte, k)
	em[1] = 0x01
	for i := 2; i < k-t-1; i++ {
		em[i] = 0xFF
	}
	copy(em[k-t:], prefix)
	copy(em[k-len(digest):], digest)
	return em, nil
}

// emsaPSSEncode is EMSA-PSS-ENCODE with MGF1 over the same hash
// (RFC 8017 §9.1.1). The card only has the raw RSA operation, so the
// encoding is done here.
func emsaPSSEncode(mHash []byte, emBits int, opts *rsa.PSSOptions, r io.Reader) ([]byte, error) {
	h := opts.Hash
	if !h.Available() || len(mHash) != h.Size() {
		return nil, ErrUnsupported
	}
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	sLen := opts.SaltLength
	switch sLen {
	case rsa.PSSSaltLengthEqualsHash:
		sLen = hLen
	case rsa.PSSSaltLengthAuto:
		sLen = emLen - hLen - 2
	}
	if sLen < 0 || emLen < hLen+sLen+2 {
		return nil, fmt.Errorf("pss: salt too long: %w", ErrUnsupported)
	}
	salt := make([]byte, sLen)
	if _, err := io.ReadFull(r, salt); err != nil {
		return nil, err
	}
	hh := h.New()
	hh.Write(make([]byte, 8))
	hh.Write(mHash)
	hh.Write(salt)
	hv := hh.Sum(nil)
	db := make([]byte, emLen-hLen-1)
	db[len(db)-sLen-1] = 0x01
	copy(db[len(db)-sLen:], salt)
	mgf1XOR(db, h, hv)
	db[0] &= 0xFF >> (8*emLen - emBits)
	em := append(db, hv...)
	em = append(em, 0xBC)
	if emBits%8 == 0 { // the card's block is one byte longer than em
		em = append([]byte{0}, em...)
	}
	return em, nil
}

// mgf1XOR XORs out with MGF1(seed) (RFC 8017 §B.2.1).
func mgf1XOR(out []byte, h crypto.Hash, seed []byte) {
	var counter [4]byte
	done := 0
	for done < len(out) {
		hh := h.New()
		hh.Write(seed)
		hh.Write(counter[:])
		for _, b := range hh.Sum(nil) {
			if done == len(out) {
				break
			}
			out[done] ^= b
			done++
		}
		for i := 3; i >= 0; i-- {
			counter[i]++
			if counter[i] != 0 {
				break
			}
		}
	}
}

// ErrDecrypt reports a ciphertext that does not decrypt under the key and
// padding given. It says nothing more, on purpose (RFC 8017 §7.2.2 note).
var ErrDecrypt = errors.New("decryption error")

// Decrypt verifies pin and decrypts ciphertext with the RSA key of
// certificate id (normally cert2, the encryption certificate).
// opts *rsa.OAEPOptions selects OAEP; nil or *rsa.PKCS1v15DecryptOptions
// selects PKCS#1 v1.5.
func (p *PIV) Decrypt(id string, ciphertext []byte, opts crypto.DecrypterOpts, pin []byte) ([]byte, error) {
	if err := checkFormat(pin); err != nil {
		return nil, err
	}
	c, err := p.keyFor(id)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	pub, ok := c.Cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("decrypt: %w", ErrUnsupported)
	}
	if len(ciphertext) != pub.Size() || new(big.Int).SetBytes(ciphertext).Cmp(pub.N) >= 0 {
		return nil, fmt.Errorf("decrypt: %w", ErrDecrypt)
	}
	alg, err := algorithmOf(pub)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	var em []byte
	err = p.do("decrypt", func() error {
		return p.withPIN(pin, func() (err error) {
			em, err = p.generalAuthenticate(c.Slot, alg, ciphertext)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	defer clear(em)
	if len(em) != pub.Size() {
		return nil, fmt.Errorf("decrypt: %w", ErrDecrypt)
	}
	var out []byte
	switch o := opts.(type) {
	case *rsa.OAEPOptions:
		out, err = oaepDecode(em, o)
	case *rsa.PKCS1v15DecryptOptions:
		if o != nil && o.SessionKeyLen > 0 {
			return sessionKey(em, o.SessionKeyLen)
		}
		out, err = pkcs1v15Unpad(em)
	case nil:
		out, err = pkcs1v15Unpad(em)
	default:
		err = ErrUnsupported
	}
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	return out, nil
}

// pkcs1v15Unpad removes EME-PKCS1-v1_5 padding (00 02 PS 00 M, PS ≥ 8
// non-zero bytes), scanning the whole block so timing does not depend on
// where the separator is.
func pkcs1v15Unpad(em []byte) ([]byte, error) {
	good := subtle.ConstantTimeByteEq(em[0], 0) & subtle.ConstantTimeByteEq(em[1], 2)
	lookingForIndex, index := 1, 0
	for i := 2; i < len(em); i++ {
		zero := subtle.ConstantTimeByteEq(em[i], 0)
		index = subtle.ConstantTimeSelect(lookingForIndex&zero, i, index)
		lookingForIndex = subtle.ConstantTimeSelect(zero, 0, lookingForIndex)
	}
	good &= subtle.ConstantTimeLessOrEq(10, index) // 2 + at least 8 bytes of PS
	if good != 1 {
		return nil, ErrDecrypt
	}
	return append([]byte(nil), em[index+1:]...), nil
}

// sessionKey implements PKCS1v15DecryptOptions.SessionKeyLen as crypto/rsa
// does: a ciphertext that does not unpad to a key of n bytes yields n random
// bytes and no error, so that a padding oracle learns nothing (RFC 5246
// §7.4.7.1).
func sessionKey(em []byte, n int) ([]byte, error) {
	key := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, err
	}
	out, err := pkcs1v15Unpad(em)
	ok := subtle.ConstantTimeEq(int32(len(out)), int32(n))
	if err != nil {
		ok = 0
	}
	if ok == 1 {
		subtle.ConstantTimeCopy(1, key, out)
	}
	return key, nil
}

// oaepDecode is EME-OAEP decoding (RFC 8017 §7.1.2 step 3) with MGF1 over
// the OAEP hash unless MGFHash names another.
func oaepDecode(em []byte, o *rsa.OAEPOptions) ([]byte, error) {
	h, mgfH := o.Hash, o.MGFHash
	if mgfH == 0 {
		mgfH = h
	}
	if !h.Available() || !mgfH.Available() {
		return nil, ErrUnsupported
	}
	hLen := h.Size()
	if len(em) < 2*hLen+2 {
		return nil, ErrDecrypt
	}
	lh := h.New()
	lh.Write(o.Label)
	lHash := lh.Sum(nil)
	seed := append([]byte(nil), em[1:1+hLen]...)
	db := append([]byte(nil), em[1+hLen:]...)
	mgf1XOR(seed, mgfH, db)
	mgf1XOR(db, mgfH, seed)
	good := subtle.ConstantTimeByteEq(em[0], 0)
	good &= subtle.ConstantTimeCompare(db[:hLen], lHash)
	lookingForIndex, index, invalid := 1, 0, 0
	rest := db[hLen:]
	for i := range rest {
		one := subtle.ConstantTimeByteEq(rest[i], 1)
		zero := subtle.ConstantTimeByteEq(rest[i], 0)
		index = subtle.ConstantTimeSelect(lookingForIndex&one, i, index)
		lookingForIndex = subtle.ConstantTimeSelect(one, 0, lookingForIndex)
		invalid = subtle.ConstantTimeSelect(lookingForIndex&^zero, 1, invalid)
	}
	if good&^invalid&^lookingForIndex != 1 {
		return nil, ErrDecrypt
	}
	return append([]byte(nil), rest[index+1:]...), nil
}

// DigestInfo returns the DER DigestInfo of digest under h (RFC 8017 §9.2
// step 2), what a raw RSA PKCS#1 v1.5 mechanism (PKCS#11 CKM_RSA_PKCS)
// signs. Hash 0 returns digest as is (a prepared DigestInfo); an unknown
// hash or a digest of the wrong size is ErrUnsupported.
func DigestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	if h == 0 {
		return bytes.Clone(digest), nil
	}
	prefix, ok := digestInfoPrefix[h]
	if !ok || len(digest) != h.Size() {
		return nil, ErrUnsupported
	}
	return append(bytes.Clone(prefix), digest...), nil
}

// DecodeDecrypted removes the padding from em, the raw RSA decryption of
// a ciphertext under a key of len(em) bytes: OAEP for *rsa.OAEPOptions,
// else PKCS#1 v1.5 (opts nil or *rsa.PKCS1v15DecryptOptions without
// SessionKeyLen). For backends whose token does only part of the padding
// schemes (PKCS#11 modules without OAEP over SHA-256). It fails with
// ErrDecrypt and nothing more.
func DecodeDecrypted(em []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	if len(em) < 11 {
		return nil, ErrDecrypt
	}
	switch o := opts.(type) {
	case *rsa.OAEPOptions:
		return oaepDecode(em, o)
	case nil:
		return pkcs1v15Unpad(em)
	case *rsa.PKCS1v15DecryptOptions:
		if o == nil || o.SessionKeyLen == 0 {
			return pkcs1v15Unpad(em)
		}
	}
	return nil, ErrUnsupported
}
