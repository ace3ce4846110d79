"""Cryptographic suites: HPKE key wrapping (RFC 9180) and the hybrid label-binding signature.

Every primitive comes from ``cryptography``; nothing here implements one.

Key-wrapping suites (the data key is wrapped once per recipient nation):

==================================================  ====  ==========================================
id                                                  rank  HPKE (KEM, KDF, AEAD)
==================================================  ====  ==========================================
``hpke-mlkem1024p384-hkdfsha384-aes256gcm``          2    ML-KEM-1024+P-384 hybrid, HKDF-SHA384,
                                                          AES-256-GCM (default; CNSA 2.0 aligned)
``hpke-p384-hkdfsha384-aes256gcm``                   1    DHKEM(P-384), HKDF-SHA384, AES-256-GCM
==================================================  ====  ==========================================

The rank orders suites for an agreement's minimum suite: a suite satisfies a minimum when its rank is at
least the minimum's.

Signature (``ecdsa-p384-sha384+mldsa87``): the message is signed by both ECDSA P-384 with SHA-384 (DER
signature) and ML-DSA-87 (FIPS 204, context ``accord-sealed/v1``); a signature is valid only if **both**
verify, so it stays secure while either algorithm does.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa, mlkem

from accord.errors import InputError, IntegrityError
from accord.formats import suite_ids
from accord.sealed import parallel
from accord.sealed.format import SIG_CONTEXT

SIG_ALG = "ecdsa-p384-sha384+mldsa87"
HYBRID = suite_ids.HYBRID
CLASSICAL = suite_ids.CLASSICAL
DEFAULT_SUITE = HYBRID

# Encryption key types held by a party (one key of each type per generation).
KEY_MLKEM1024_P384 = "mlkem1024+p384"
KEY_P384 = "p384"
KEY_SIGN = SIG_ALG


@dataclass(frozen=True)
class WrapSuite:
    """One HPKE suite for wrapping the data key."""

    id: str
    rank: int
    key_type: str
    kem: hpke.KEM
    description: str

    def hpke(self) -> hpke.Suite:
        return hpke.Suite(self.kem, hpke.KDF.HKDF_SHA384, hpke.AEAD.AES_256_GCM)


SUITES: dict[str, WrapSuite] = {
    HYBRID: WrapSuite(
        HYBRID,
        2,
        KEY_MLKEM1024_P384,
        hpke.KEM.MLKEM1024_P384,
        "ML-KEM-1024+P-384 / HKDF-SHA384 / AES-256-GCM",
    ),
    CLASSICAL: WrapSuite(CLASSICAL, 1, KEY_P384, hpke.KEM.P384, "P-384 / HKDF-SHA384 / AES-256-GCM"),
}


assert tuple(SUITES) == suite_ids.SUITE_IDS  # one list of names


def get_suite(suite_id: object) -> WrapSuite:
    """The suite named ``suite_id``; an unknown suite is refused (never fail open)."""
    if not isinstance(suite_id, str) or suite_id not in SUITES:
        raise InputError(f"unknown suite {str(suite_id)[:60]!r}", field="suite")
    return SUITES[suite_id]


def suite_satisfies(suite_id: str, minimum: str | None) -> bool:
    """True when ``suite_id`` is at least as strong as ``minimum`` (None = any known suite)."""
    if minimum is None:
        return True
    return get_suite(suite_id).rank >= get_suite(minimum).rank


# --- encryption keys --------------------------------------------------------------------------------

EncPrivate = hpke.MLKEM1024P384PrivateKey | ec.EllipticCurvePrivateKey
EncPublic = hpke.MLKEM1024P384PublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class EncKeyPair:
    """An encryption key of one type: private material (seed form) and public bytes."""

    key_type: str
    private_raw: bytes = field(repr=False)
    public_raw: bytes = field(repr=False)

    def private(self) -> EncPrivate:
        return self._private

    @functools.cached_property
    def _private(self) -> EncPrivate:
        return enc_private_from_raw(self.key_type, self.private_raw)


def _p384_private_raw(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_numbers().private_value.to_bytes(48, "big")


def _p384_from_raw(raw: bytes) -> ec.EllipticCurvePrivateKey:
    if len(raw) != 48:
        raise InputError("bad P-384 private key length")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP384R1())


def _p384_public_raw(k: ec.EllipticCurvePublicKey) -> bytes:
    return k.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def generate_enc_key(key_type: str) -> EncKeyPair:
    if key_type == KEY_MLKEM1024_P384:
        kem = mlkem.MLKEM1024PrivateKey.generate()
        ecc = ec.generate_private_key(ec.SECP384R1())
        priv = kem.private_bytes_raw() + _p384_private_raw(ecc)
        pub = kem.public_key().public_bytes_raw() + _p384_public_raw(ecc.public_key())
        return EncKeyPair(key_type, priv, pub)
    if key_type == KEY_P384:
        ecc = ec.generate_private_key(ec.SECP384R1())
        return EncKeyPair(key_type, _p384_private_raw(ecc), _p384_public_raw(ecc.public_key()))
    raise InputError(f"unknown key type {key_type!r}")


def enc_private_from_raw(key_type: str, raw: bytes) -> EncPrivate:
    if key_type == KEY_MLKEM1024_P384:
        if len(raw) != 64 + 48:
            raise InputError("bad ML-KEM-1024+P-384 private key length")
        return hpke.MLKEM1024P384PrivateKey(
            mlkem.MLKEM1024PrivateKey.from_seed_bytes(raw[:64]), _p384_from_raw(raw[64:])
        )
    if key_type == KEY_P384:
        return _p384_from_raw(raw)
    raise InputError(f"unknown key type {key_type!r}")


def enc_public_raw_of(key_type: str, private_raw: bytes) -> bytes:
    """The public bytes that belong to ``private_raw`` (to check a loaded key pair)."""
    try:
        priv = enc_private_from_raw(key_type, private_raw)
    except ValueError as e:
        raise InputError(f"invalid {key_type} private key") from e
    if isinstance(priv, ec.EllipticCurvePrivateKey):
        return _p384_public_raw(priv.public_key())
    kem = mlkem.MLKEM1024PrivateKey.from_seed_bytes(private_raw[:64])
    return kem.public_key().public_bytes_raw() + _p384_public_raw(_p384_from_raw(private_raw[64:]).public_key())


def sign_public_raw_of(private_raw: bytes) -> bytes:
    """The hybrid signing public key that belongs to ``private_raw``."""
    if len(private_raw) != 80:
        raise InputError("bad signing key length")
    try:
        ecc = _p384_from_raw(private_raw[:48])
        dsa = mldsa.MLDSA87PrivateKey.from_seed_bytes(private_raw[48:])
    except ValueError as e:
        raise InputError("invalid signing private key") from e
    return _p384_public_raw(ecc.public_key()) + dsa.public_key().public_bytes_raw()


@functools.lru_cache(maxsize=256)
def enc_public_from_raw(key_type: str, raw: bytes) -> EncPublic:
    """A recipient's public key from its roster bytes (parsed once, cached)."""
    try:
        if key_type == KEY_MLKEM1024_P384:
            if len(raw) != 1568 + 97:
                raise InputError("bad ML-KEM-1024+P-384 public key length")
            return hpke.MLKEM1024P384PublicKey(
                mlkem.MLKEM1024PublicKey.from_public_bytes(raw[:1568]),
                ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), raw[1568:]),
            )
        if key_type == KEY_P384:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), raw)
    except ValueError as e:
        raise InputError(f"invalid {key_type} public key") from e
    raise InputError(f"unknown key type {key_type!r}")


def wrap_key(suite: WrapSuite, public: EncPublic, dek: bytes, info: bytes) -> bytes:
    """HPKE base-mode single-shot seal of the data key (enc ‖ ciphertext)."""
    return suite.hpke().encrypt(dek, public, info=info)


def unwrap_key(suite: WrapSuite, private: EncPrivate, wrapped: bytes, info: bytes) -> bytes:
    """Open a wrapped data key; any failure is an opaque :class:`IntegrityError`."""
    try:
        dek = suite.hpke().decrypt(wrapped, private, info=info)
    except (InvalidTag, ValueError, TypeError) as e:
        raise IntegrityError() from e
    if len(dek) != 32:
        raise IntegrityError()
    return dek


# --- hybrid signature -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignKeyPair:
    """A hybrid signing key: ECDSA P-384 scalar (48 bytes) ‖ ML-DSA-87 seed (32 bytes)."""

    private_raw: bytes = field(repr=False)
    public_raw: bytes = field(repr=False)

    @staticmethod
    def generate() -> SignKeyPair:
        ecc = ec.generate_private_key(ec.SECP384R1())
        dsa = mldsa.MLDSA87PrivateKey.generate()
        return SignKeyPair(
            _p384_private_raw(ecc) + dsa.private_bytes_raw(),
            _p384_public_raw(ecc.public_key()) + dsa.public_key().public_bytes_raw(),
        )

    def sign(self, message: bytes) -> bytes:
        """``u16 len(ecdsa_der) ‖ ecdsa_der ‖ mldsa87_sig`` (the ML-DSA half on a worker: see :meth:`begin_sign`)."""
        return self.begin_sign(message).finish()

    def begin_sign(self, message: bytes) -> PendingSignature:
        """Start the ML-DSA-87 half of the signature of ``message`` on the crypto pool and return at once.

        The caller may do independent work (the HPKE wraps of a seal) before :meth:`PendingSignature.finish`,
        which makes the ECDSA half in the calling thread and joins the ML-DSA half. ML-DSA-87 signing is
        hedged (FIPS 204 randomized) with rejection sampling: its time has a long tail (p50 0.9 ms, p99
        3.7 ms). One attempt starts here; when the caller has finished its own work and that attempt still
        runs, :meth:`~PendingSignature.finish` starts a second on the other worker and the first to finish is
        the signature (both would be valid; the other is dropped in its worker): the *late* hedge, never
        more than two threads at work. When no worker is free or no core idle, ML-DSA runs inline in
        :meth:`~PendingSignature.finish`, as before (issue 8, docs/performance.md "Wave 7 — sigtail").
        """
        _ecc, dsa = self._keys
        return PendingSignature(self, message, parallel.race(lambda: dsa.sign(message, SIG_CONTEXT)))

    @functools.cached_property
    def _keys(self) -> tuple[ec.EllipticCurvePrivateKey, mldsa.MLDSA87PrivateKey]:
        return _p384_from_raw(self.private_raw[:48]), mldsa.MLDSA87PrivateKey.from_seed_bytes(self.private_raw[48:])


class PendingSignature:
    """A hybrid signature whose ML-DSA-87 half may be running on the crypto pool (:meth:`SignKeyPair.begin_sign`)."""

    __slots__ = ("_message", "_pair", "_pq")

    def __init__(self, pair: SignKeyPair, message: bytes, pq: parallel.Race[bytes] | None) -> None:
        self._pair, self._message, self._pq = pair, message, pq

    def finish(self) -> bytes:
        """The ECDSA half (here), the ML-DSA half (joined, or made here when it was not offloaded). The
        caller's own work is done once the ECDSA half is made: if the ML-DSA attempt still runs then, a
        second attempt is started on the other worker (:meth:`parallel.Race.hedge`) while this thread waits."""
        ecc, dsa = self._pair._keys
        message = self._message
        pending, self._pq = self._pq, None
        der = ecc.sign(message, ec.ECDSA(hashes.SHA384()))  # on failure the worker's result is dropped
        if pending is not None:
            pending.hedge()
        pq = dsa.sign(message, SIG_CONTEXT) if pending is None else pending.result()
        return len(der).to_bytes(2, "big") + der + pq


@functools.lru_cache(maxsize=256)
def _sig_public(public_raw: bytes) -> tuple[ec.EllipticCurvePublicKey, mldsa.MLDSA87PublicKey]:
    return (
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), public_raw[:97]),
        mldsa.MLDSA87PublicKey.from_public_bytes(public_raw[97:]),
    )


def verify_signature(public_raw: bytes, signature: bytes, message: bytes) -> None:
    """Verify a hybrid signature; both halves must verify. Failure: opaque :class:`IntegrityError`."""
    try:
        if len(public_raw) != 97 + 2592 or len(signature) < 2:
            raise IntegrityError()
        n = int.from_bytes(signature[:2], "big")
        der, pq = signature[2 : 2 + n], signature[2 + n :]
        if len(der) != n or len(pq) != 4627:
            raise IntegrityError()
        ecc, dsa = _sig_public(public_raw)
        # Both halves, on two cores when a worker is free (issue 8); both must verify.
        parallel.run_all(
            (
                lambda: ecc.verify(der, message, ec.ECDSA(hashes.SHA384())),
                lambda: dsa.verify(pq, message, SIG_CONTEXT),
            )
        )
    except (InvalidSignature, ValueError) as e:
        raise IntegrityError() from e


def key_id(kind: str, public_raw: bytes) -> str:
    """Key id: the first 16 bytes of SHA-256(kind ‖ 0x00 ‖ public key), in hex."""
    return hashlib.sha256(kind.encode("ascii") + b"\x00" + public_raw).hexdigest()[:32]
