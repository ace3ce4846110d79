"""The crypto pool on the release path (issue 8, Waves 6-7): the hybrid signature's halves on two cores, late
hedged ML-DSA-87 signing (a second attempt only once the caller's own work is done and the first still runs:
never three threads at work), both verification halves in parallel, and the data key unwrapped alongside
the verification but used only after it. Every check of the serial path holds on the parallel one."""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from accord.errors import IntegrityError, TrustError
from accord.sealed import container as c
from accord.sealed import item as item_mod
from accord.sealed import manifest as manifest_mod
from accord.sealed import parallel
from accord.sealed.format import SIG_CONTEXT
from accord.sealed.keys import PartyKeys, Roster
from accord.sealed.suites import SignKeyPair, verify_signature
from tests.sealed.util import rebuild, seal

MSG = b"kor-msg-1: a statement to sign"


@pytest.fixture(autouse=True)
def _pool_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    parallel.set_enabled(True, hedge=True)
    monkeypatch.setattr(parallel._POOL, "spare_core", lambda leaving=0: True)  # the test machine may be busy
    yield
    _idle()
    parallel.set_enabled(None)


def _idle(timeout: float = 10.0) -> None:
    """Wait until no task runs on the pool (a hedged loser finishes after its caller returned)."""
    deadline = time.monotonic() + timeout
    while parallel.in_flight():
        assert time.monotonic() < deadline, "a pool task never finished"
        time.sleep(0.001)


class _Blocker:
    """Occupies ``n`` pool slots until released: 'another signature in flight'."""

    def __init__(self, n: int) -> None:
        self.gate = threading.Event()
        self.tasks = [parallel.offload(self.gate.wait) for _ in range(n)]
        assert all(t is not None for t in self.tasks)
        deadline = time.monotonic() + 10
        while not all(t._future.running() for t in self.tasks if t is not None):
            assert time.monotonic() < deadline
            time.sleep(0.001)

    def release(self) -> None:
        self.gate.set()
        for t in self.tasks:
            assert t is not None
            t.result()


def _started(r: parallel.Race[Any]) -> None:
    """Wait until a worker started every attempt (else the caller takes them back and runs one inline)."""
    deadline = time.monotonic() + 10
    while not all(f.running() or f.done() for f in r._futures):
        assert time.monotonic() < deadline
        time.sleep(0.001)


def _halves(sig: bytes) -> tuple[bytes, bytes]:
    n = int.from_bytes(sig[:2], "big")
    return sig[2 : 2 + n], sig[2 + n :]


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


# --- signing ------------------------------------------------------------------------------------------


def test_a_hybrid_signature_made_on_the_pool_verifies_and_a_tampered_half_is_refused() -> None:
    kp = SignKeyPair.generate()
    sig = kp.sign(MSG)
    verify_signature(kp.public_raw, sig, MSG)
    der, pq = _halves(sig)
    head = sig[:2]
    for bad in (head + _flip(der, len(der) - 3) + pq, head + der + _flip(pq, 100)):
        with pytest.raises(IntegrityError):
            verify_signature(kp.public_raw, bad, MSG)
    with pytest.raises(IntegrityError):
        verify_signature(kp.public_raw, sig, MSG + b"x")


def test_begin_sign_lets_the_caller_work_while_ml_dsa_signs_and_the_result_verifies() -> None:
    kp = SignKeyPair.generate()
    pending = kp.begin_sign(MSG)
    assert parallel.in_flight() >= 1  # the ML-DSA half left this thread
    sig = pending.finish()
    verify_signature(kp.public_raw, sig, MSG)


def _recording_race(monkeypatch: pytest.MonkeyPatch) -> list[parallel.Race[Any] | None]:
    seen: list[parallel.Race[Any] | None] = []
    real = parallel.race

    def spy(fn: Callable[[], Any]) -> parallel.Race[Any] | None:
        r = real(fn)
        seen.append(r)
        return r

    monkeypatch.setattr(parallel, "race", spy)
    return seen


class _SlowFirstMLDSA:
    """ML-DSA whose first attempt outlasts everything (it returns only when released, or after 10 s) and whose
    later attempts return at once; records the order of events against the caller's ECDSA half."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def sign(self, message: bytes, context: bytes) -> bytes:
        with self.lock:
            n = sum(1 for e in self.events if e.startswith("attempt")) + 1
            self.events.append(f"attempt-{n}")
        if n == 1:
            self.release.wait(10)
            return b"S" * 4627  # slow
        return b"F" * 4627  # fast


class _RecordingECDSA:
    def __init__(self, real: Any, events: list[str]) -> None:
        self.real, self.events = real, events

    def sign(self, message: bytes, algorithm: Any) -> bytes:
        der: bytes = self.real.sign(message, algorithm)
        self.events.append("ecdsa")
        return der


def _with_fake_halves(dsa: Any) -> SignKeyPair:
    good = SignKeyPair.generate()
    kp = SignKeyPair(good.private_raw, good.public_raw)
    kp.__dict__["_keys"] = (_RecordingECDSA(good._keys[0], dsa.events), dsa)
    return kp


@contextlib.contextmanager
def _slow_first_attempt_running(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[_SlowFirstMLDSA, Any, list[Any]]]:
    """A signature begun with a first ML-DSA attempt that runs on a worker and outlasts the caller's work
    (started: else the caller takes the attempt back and there is nothing to hedge); released at exit."""
    dsa = _SlowFirstMLDSA()
    kp = _with_fake_halves(dsa)
    _idle()
    seen = _recording_race(monkeypatch)
    try:
        pending = kp.begin_sign(MSG)
        assert seen[0] is not None
        _started(seen[0])
        yield dsa, pending, seen
    finally:
        dsa.release.set()


def test_a_slow_ml_dsa_attempt_is_hedged_late_once_the_caller_s_own_work_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _slow_first_attempt_running(monkeypatch) as (dsa, pending, seen):
        assert parallel.in_flight() == 1  # while the caller works: one attempt, not two (no 3 threads on 2 cores)
        sig = pending.finish()
    assert sig.endswith(b"F" * 4627)  # the second attempt won: the slow one was hedged, not waited for
    assert dsa.events == ["attempt-1", "ecdsa", "attempt-2"]  # the second started after the caller's ECDSA half
    assert len(seen[0]._futures) == 2


def test_an_ml_dsa_attempt_done_before_the_caller_s_work_is_not_hedged(monkeypatch: pytest.MonkeyPatch) -> None:
    dsa = _SlowFirstMLDSA()
    dsa.release.set()  # the first attempt returns at once
    kp = _with_fake_halves(dsa)
    _idle()
    seen = _recording_race(monkeypatch)
    pending = kp.begin_sign(MSG)
    r = seen[0]
    assert r is not None
    assert r._done.wait(10)
    sig = pending.finish()
    assert sig.endswith(b"S" * 4627)
    assert dsa.events == ["attempt-1", "ecdsa"] and len(r._futures) == 1  # no second attempt: no double work


def test_a_real_hedged_signature_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    kp = SignKeyPair.generate()
    _idle()
    seen = _recording_race(monkeypatch)
    for _ in range(5):
        sig = kp.sign(MSG)
        verify_signature(kp.public_raw, sig, MSG)
        _idle()
    assert seen and all(r is not None for r in seen)


def test_the_late_hedge_does_not_count_the_caller_that_is_about_to_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # The caller is runnable when it asks, and blocks right after: the spare-core check leaves it out.
    asked: list[int] = []

    def spare(leaving: int = 0) -> bool:
        asked.append(leaving)
        return True

    monkeypatch.setattr(parallel._POOL, "spare_core", spare)
    with _slow_first_attempt_running(monkeypatch) as (_dsa, pending, _seen):
        pending.finish()
    assert asked == [0, 1]  # the first attempt: the caller counts; the hedge: it does not
    assert parallel._Pool.spare_core(leaving=1 << 20) is True


def test_with_another_signature_in_flight_ml_dsa_is_signed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    kp = SignKeyPair.generate()
    _idle()
    blocker = _Blocker(1)
    try:
        seen = _recording_race(monkeypatch)
        sig = kp.sign(MSG)
        assert seen[0] is not None and len(seen[0]._futures) == 1  # the pool is full: no hedge, no double work
    finally:
        blocker.release()
    verify_signature(kp.public_raw, sig, MSG)


def test_with_the_pool_full_the_signature_is_made_inline_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    kp = SignKeyPair.generate()
    _idle()
    blocker = _Blocker(parallel.WORKERS)
    try:
        seen = _recording_race(monkeypatch)
        sig = kp.sign(MSG)
        assert seen == [None]
        assert parallel.in_flight() == parallel.WORKERS  # nothing queued behind the blockers
    finally:
        blocker.release()
    verify_signature(kp.public_raw, sig, MSG)


def test_a_hedged_race_keeps_one_result_and_the_loser_is_dropped_in_its_worker() -> None:
    _idle()
    both_running = threading.Barrier(2, timeout=10)
    values: list[object] = []

    def attempt() -> object:
        both_running.wait()  # both attempts really run at once
        v = object()
        values.append(v)
        return v

    r = parallel.race(attempt)
    assert r is not None
    _started(r)
    assert r.hedge() and len(r._futures) == 2
    _started(r)
    won = r.result()
    _idle()
    assert len(values) == 2 and won in values
    assert [f.result() for f in r._futures] == [None, None]  # neither attempt's future holds a value
    assert r._value is None  # nor the race itself, once handed out
    with pytest.raises(RuntimeError):
        r.result()  # handed out once: a result is never reused


def test_two_ml_dsa_attempts_of_one_message_are_independent_signatures() -> None:
    # Hedged FIPS 204 signing draws fresh randomness per attempt: the loser is another valid signature, never
    # a copy of the winner, and never stored.
    kp = SignKeyPair.generate()
    _ecc, dsa = kp._keys
    a, b = dsa.sign(MSG, SIG_CONTEXT), dsa.sign(MSG, SIG_CONTEXT)
    assert a != b


class _FailingMLDSA:
    def sign(self, message: bytes, context: bytes) -> bytes:
        raise ValueError("kor-worker-1: signer broke")


def test_an_exception_in_the_ml_dsa_worker_reaches_the_caller_as_it_did_inline() -> None:
    good = SignKeyPair.generate()
    kp = SignKeyPair(good.private_raw, good.public_raw)
    kp.__dict__["_keys"] = (good._keys[0], _FailingMLDSA())
    _idle()
    with pytest.raises(ValueError, match="signer broke"):
        kp.sign(MSG)
    parallel.set_enabled(False)
    with pytest.raises(ValueError, match="signer broke"):
        kp.sign(MSG)


def test_a_task_error_is_re_raised_and_a_race_raises_only_when_every_attempt_failed() -> None:
    def boom() -> None:
        raise KeyError("kor-task-1")

    t = parallel.offload(boom)
    assert t is not None
    with pytest.raises(KeyError):
        t.result()
    _idle()
    r = parallel.race(boom)
    assert r is not None
    _started(r)
    r.hedge()  # the first attempt may already have failed: then no second one
    with pytest.raises(KeyError):
        r.result()
    _idle()
    calls: list[int] = []
    lock = threading.Lock()

    go = threading.Event()

    def first_fails() -> str:
        with lock:
            calls.append(1)
            n = len(calls)
        if n == 1:
            go.wait(10)  # still running when the hedge starts
            raise KeyError("kor-task-2")
        return "ok"

    r2 = parallel.race(first_fails)
    assert r2 is not None
    _started(r2)
    assert r2.hedge()
    go.set()
    assert r2.result() == "ok"


def test_a_race_no_worker_started_is_taken_back_and_made_by_the_caller() -> None:
    # A loaded machine: the workers are busy (here with work that bypassed the slot count) when the caller asks.
    _idle()
    parallel.offload(lambda: None).result()  # type: ignore[union-attr]  # the pool exists
    gate = threading.Event()
    workers = parallel._POOL.workers
    assert workers is not None
    busy = [workers.submit(gate.wait) for _ in range(parallel.WORKERS)]
    try:
        where: list[str] = []

        def attempt() -> str:
            where.append(threading.current_thread().name)
            return "ok"

        r = parallel.race(attempt)
        assert r is not None
        assert not r.hedge()  # not started: nothing to hedge
        assert r.result() == "ok"
        assert where == [threading.current_thread().name]  # made by the caller, not queued behind the work
        assert all(f.cancelled() for f in r._futures)
        t = parallel.offload(lambda: threading.current_thread().name)
        assert t is not None and t.result() == threading.current_thread().name
    finally:
        gate.set()
        for f in busy:
            f.result(timeout=10)
    _idle()


def test_a_busy_machine_runs_the_primitives_inline_and_still_signs_and_verifies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _idle()
    gate = threading.Event()
    r = parallel.race(gate.wait)  # started while a core was idle
    assert r is not None
    _started(r)
    monkeypatch.setattr(parallel._POOL, "spare_core", lambda leaving=0: False)
    assert not r.hedge()  # no idle core: no second attempt
    gate.set()
    assert r.result() is True
    _idle()
    assert parallel.offload(lambda: None) is None
    assert parallel.race(lambda: None) is None
    assert parallel.in_flight() == 0  # the slots taken for the check were given back
    kp = SignKeyPair.generate()
    verify_signature(kp.public_raw, kp.sign(MSG), MSG)


def test_the_spare_core_check_reads_the_kernel_s_runnable_count() -> None:
    assert isinstance(parallel._Pool.spare_core(), bool)


def test_the_pool_threads_are_daemons_and_shutdown_joins_them() -> None:
    kp = SignKeyPair.generate()
    kp.sign(MSG)
    _idle()
    workers = [t for t in threading.enumerate() if t.name.startswith("accord-crypto-")]
    assert len(workers) == parallel.WORKERS and all(t.daemon for t in workers)
    parallel.shutdown()
    assert not [t for t in threading.enumerate() if t.name.startswith("accord-crypto-")]
    verify_signature(kp.public_raw, kp.sign(MSG), MSG)  # the next use starts a new pool


# --- verification -------------------------------------------------------------------------------------


@pytest.mark.parametrize("full", [False, True], ids=["parallel", "pool-full-inline"])
@pytest.mark.parametrize("half", ["ecdsa", "mldsa"])
def test_verify_refuses_a_bad_half_on_either_path(full: bool, half: str) -> None:
    kp = SignKeyPair.generate()
    sig = kp.sign(MSG)
    _idle()
    der, pq = _halves(sig)
    bad = sig[:2] + (_flip(der, len(der) - 3) + pq if half == "ecdsa" else der + _flip(pq, 4000))
    blocker = _Blocker(parallel.WORKERS) if full else None
    try:
        with pytest.raises(IntegrityError) as info:
            verify_signature(kp.public_raw, bad, MSG)
        assert str(info.value) == "integrity check failed"
    finally:
        if blocker is not None:
            blocker.release()


def test_verify_runs_the_ml_dsa_half_on_a_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    kp = SignKeyPair.generate()
    sig = kp.sign(MSG)
    _idle()
    names: list[str] = []
    real = parallel.run_all

    def spy(fns: Any) -> None:
        def named(f: Callable[[], object]) -> Callable[[], object]:
            def g() -> object:
                names.append(threading.current_thread().name)
                return f()

            return g

        real([named(f) for f in fns])

    monkeypatch.setattr(parallel, "run_all", spy)
    verify_signature(kp.public_raw, sig, MSG)
    assert names[0] == threading.current_thread().name and len(names) == 2


def test_run_all_re_raises_the_first_failure_in_order() -> None:
    def bad_ecdsa() -> None:
        raise InvalidSignature()

    def bad_mldsa() -> None:
        raise ValueError("kor-mldsa-1")

    with pytest.raises(InvalidSignature):
        parallel.run_all((bad_ecdsa, bad_mldsa))
    with pytest.raises(ValueError, match="kor-mldsa-1"):
        parallel.run_all((lambda: None, bad_mldsa))
    parallel.run_all((lambda: None, lambda: None))


# --- the data key unwrapped alongside the verification ------------------------------------------------


PAYLOAD = b"kor-item-1 payload " * 300


def _counting_unwrap(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = manifest_mod.unwrap_dek

    def spy(parsed: Any, grants: Any, keys: PartyKeys) -> bytes:
        calls.append(threading.current_thread().name)
        return real(parsed, grants, keys)

    monkeypatch.setattr(item_mod, "unwrap_dek", spy)
    return calls


def test_the_early_unwrap_is_made_on_a_worker_and_used_by_the_open(
    parties: dict[str, PartyKeys], roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = seal(PAYLOAD, parties, roster)
    _idle()
    calls = _counting_unwrap(monkeypatch)
    item = item_mod.verify_bytes(blob, roster=roster, opening=parties["JPN"])
    assert item._early is not None and item._dek is None  # nothing taken before the item is opened
    deadline = time.monotonic() + 10
    while not item._early[1].done():  # (on a loaded machine the caller would take it back and unwrap itself)
        assert time.monotonic() < deadline
        time.sleep(0.001)
    opened = item_mod.open_item(item, keys=parties["JPN"])
    assert opened.payload == PAYLOAD
    assert len(calls) == 1 and calls[0].startswith("accord-crypto-")  # the early unwrap, not a second one


def test_a_container_that_fails_verification_is_refused_even_when_its_key_unwraps(
    parties: dict[str, PartyKeys], roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = seal(PAYLOAD, parties, roster)

    def bad_sig(m: dict[str, Any]) -> None:
        sig = bytearray(base64.b64decode(m["signature"]["sig"]))
        sig[-50] ^= 1
        m["signature"]["sig"] = base64.b64encode(bytes(sig)).decode()

    bad = rebuild(blob, manifest_fn=bad_sig)
    _idle()
    calls = _counting_unwrap(monkeypatch)
    with pytest.raises(IntegrityError) as info:
        item_mod.verify_bytes(bad, roster=roster, opening=parties["JPN"])
    assert str(info.value) == "integrity check failed"
    with pytest.raises(IntegrityError):
        c.open_bytes(bad, keys=parties["JPN"], roster=roster)
    _idle()
    assert len(calls) == 2  # the key was unwrapped speculatively, and nothing returned it


def test_a_bad_wrapped_key_gives_the_same_refusal_with_and_without_the_early_unwrap(
    parties: dict[str, PartyKeys], roster: Roster
) -> None:
    blob = seal(PAYLOAD, parties, roster)

    def bad_key(m: dict[str, Any]) -> None:
        w = bytearray(base64.b64decode(m["keyAccess"][0]["wrappedKey"]))
        w[-5] ^= 1
        m["keyAccess"][0]["wrappedKey"] = base64.b64encode(bytes(w)).decode()

    bad = rebuild(blob, manifest_fn=bad_key)
    errors = []
    for on in (True, False):
        parallel.set_enabled(on)
        item = item_mod.verify_bytes(bad, roster=roster, opening=parties["JPN"])  # the signature is fine
        with pytest.raises(IntegrityError) as info:
            item_mod.open_item(item, keys=parties["JPN"])
        errors.append(str(info.value))
        _idle()
    assert errors == ["integrity check failed"] * 2


def test_an_early_unwrap_for_other_keys_is_never_used(parties: dict[str, PartyKeys], roster: Roster) -> None:
    blob = seal(PAYLOAD, parties, roster)
    item = item_mod.verify_bytes(blob, roster=roster, opening=parties["JPN"])
    with pytest.raises(TrustError):
        item_mod.open_item(item, keys=parties["USA"])  # not a recipient: refused as before


def test_no_early_unwrap_for_an_item_not_sealed_to_the_opener(parties: dict[str, PartyKeys], roster: Roster) -> None:
    blob = seal(PAYLOAD, parties, roster)
    item = item_mod.verify_bytes(blob, roster=roster, opening=parties["USA"])
    assert item._early is None  # a blind relay: no key of ours, nothing unwrapped


def test_the_seal_wraps_the_data_key_while_ml_dsa_signs(
    parties: dict[str, PartyKeys], roster: Roster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accord.sealed import suites

    _idle()
    during: list[int] = []
    real = suites.wrap_key

    def spy(*a: Any) -> bytes:
        during.append(parallel.in_flight())
        return real(*a)

    monkeypatch.setattr("accord.sealed.seal.wrap_key", spy)
    blob = seal(PAYLOAD, parties, roster)
    assert during == [1]  # the signature's ML-DSA half was on the pool during the wrap, one attempt (no early hedge)
    assert c.open_bytes(blob, keys=parties["JPN"], roster=roster).payload == PAYLOAD


def test_the_node_sealer_unwraps_early_only_when_asked_to_open(tmp_path: Any) -> None:
    from accord.core.agreements import AgreementSet
    from accord.node.sealing import SealedFormat, init_keys, own_entry, pin_entry

    for p in ("KOR", "JPN"):
        init_keys(tmp_path / p, p)
    pin_entry(tmp_path / "JPN", own_entry(tmp_path / "KOR", "KOR"), source="test")
    pin_entry(tmp_path / "KOR", own_entry(tmp_path / "JPN", "JPN"), source="test")
    kor = SealedFormat(tmp_path / "KOR" / "keys", tmp_path / "KOR" / "trust", AgreementSet(()))
    jpn = SealedFormat(tmp_path / "JPN" / "keys", tmp_path / "JPN" / "trust", AgreementSet(()))
    blob = seal(PAYLOAD, {"KOR": kor.keys}, kor.roster)
    _idle()
    assert jpn.verify(blob)._early is None
    item = jpn.verify(blob, to_open=True)
    assert item._early is not None
    assert item_mod.open_item(item, keys=jpn.keys).payload == PAYLOAD
