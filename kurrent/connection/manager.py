"""One managed KurrentDBClient per environment: connect, call, health, reconnect, metrics.

    from kurrent.connection.manager import connections
    version = connections.call("dev", "append", lambda client, timeout:
        client.append_to_stream(name, events=events, current_version=v, timeout=timeout))

How it behaves:

- Clients are created lazily, one per environment, and shared by every thread.
- `call()` runs the operation on a small worker pool and waits at most the environment's
  timeout (KURRENTDB_TIMEOUT), whatever the client does inside: kurrentdbclient retries
  once on any gRPC error and reconnects without a deadline, so a deadline passed to
  the RPC alone does not bound the wait. `fn` must only talk to KurrentDB (no ORM),
  since it runs on a worker thread.
- A connection failure (refused, timed out, discovery failed, credentials rejected)
  marks the environment down and starts an exponential backoff with jitter (0.5 s,
  doubling, capped at the sync interval, so a node that is back is found within two).
  While it lasts, calls fail at once with KurrentUnavailable; when it ends, one caller
  (a request or a health probe) tries again on a new client, and success clears the
  backoff. Before the environment is marked down, an operation is retried up to
  KURRENTDB_MAX_RETRIES times, within the same timeout.
- A watched environment (`watch`: a web process's health monitor, kurrent.ops.monitor,
  probes it in the background with `refresh_health`) answers `health()` from what the
  monitor found, at once, and only the monitor's probe tries it while it is down: a
  request is refused "unavailable" at once instead of waiting a timeout of its own.
- Domain errors (WrongCurrentVersionError, NotFoundError, StreamIsDeletedError,
  AccessDeniedError, ...) mean the node answered; they are re-raised unchanged.
- `health()` probes with a gossip read and a commit-position read, at most once per
  sync interval per environment whatever the number of callers.
- Messages, logs and health never hold credentials: errors are described in fixed
  words plus the host and port, never the connection string or the client's text.

Why one module of some 600 lines: ConnectionManager's calls, backoff and health share
one environment state and its lock discipline (`_Env`: `lock`, `create_lock`,
`probe_lock`, the trial flag), and splitting them would spread that discipline over
modules; the parts that stand alone are elsewhere (workers.py, clients.py, health.py).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from kurrentdbclient import KurrentDBClient
from kurrentdbclient.exceptions import (
    DeadlineExceededError,
    KurrentDBClientError,
)

from kurrent.connection import metrics
from kurrent.connection.clients import close_quietly, explain, new_client
from kurrent.connection.config import Profile, active_environment, environments, get_profile, var
from kurrent.connection.health import (
    DISABLED,
    DOWN,
    MIN_RPC_TIMEOUT_S,
    NODE_STATE_WORDS,
    NOT_CONFIGURED,
    Health,
    judge,
    probe,
)
from kurrent.connection.history import history
from kurrent.connection.workers import Workers
from kurrent.core.errors import KurrentBusy, KurrentTimeout, KurrentUnavailable, NotConfigured

log = logging.getLogger("kurrent.connection.manager")

T = TypeVar("T")


BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_PAUSE_S = 0.05  # first pause between in-call retries; doubles each time
WORKERS = 32


class _Env:
    """Mutable state of one environment; fields change under `lock`."""

    def __init__(self, profile: Profile, max_streams: int) -> None:
        self.profile = profile
        self.lock = threading.Lock()
        self.create_lock = threading.Lock()
        self.probe_lock = threading.Lock()
        self.client: KurrentDBClient | None = None
        self.failures = 0
        self.down_until: float | None = None  # monotonic time; None while believed up
        self.trial = False  # one caller is trying the node after a backoff
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.last_success_at: datetime | None = None
        self.health: Health | None = None
        self.health_at = 0.0
        self.max_streams = max_streams
        self.slots = threading.BoundedSemaphore(max_streams)
        # A health monitor probes it in the background (kurrent.ops.monitor): requests
        # then read the health it found and never try a node that is down themselves.
        self.watched = False

    @property
    def name(self) -> str:
        return self.profile.name

    def where(self) -> str:
        return urlsplit(self.profile.url).netloc.rpartition("@")[2]


class ConnectionManager:
    """Holds one client and one health record per environment. Thread-safe."""

    def __init__(
        self,
        *,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        workers: int = WORKERS,
    ) -> None:
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._workers = workers
        self._lock = threading.Lock()
        self._envs: dict[str, _Env] = {}
        self._pool: Workers | None = None

    # --- public interface ---------------------------------------------------

    def client(self, env: str | None = None) -> KurrentDBClient:
        """The shared client of `env` (default: the active environment).

        For long reads and subscriptions, inside `stream_slot(env)`; pass timeout= to
        every call. Raises NotConfigured, or KurrentUnavailable while the environment
        is down and backing off.
        """
        state = self._env(env)
        self._check_usable(state)
        with state.lock:
            if state.down_until is not None and time.monotonic() < state.down_until:
                raise KurrentUnavailable(self._down_message(state))
        client = state.client
        if client is not None:
            return client
        deadline = time.monotonic() + state.profile.timeout_s
        future = self._executor().submit(lambda: self._ensure_client(state))
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            reason = f"no answer within {state.profile.timeout_s:g} s"
        except Exception as exc:
            reason = explain(exc, state.profile)
            if reason is None:
                raise KurrentUnavailable(
                    f"KurrentDB {state.name} ({state.where()}): the client could not be "
                    f"created ({type(exc).__name__})."
                ) from None
        self._failed(state, reason, None)
        raise KurrentUnavailable(self._unavailable_message(state, reason))

    def call(
        self,
        env: str | None,
        operation: str,
        fn: Callable[[KurrentDBClient, float], T],
        *,
        retries: int | None = None,
        inline: bool = False,
        as_probe: bool = False,
    ) -> T:
        """Run `fn(client, timeout_seconds)` against `env`, bounded by its timeout.

        `fn` must pass timeout= to every client call and must not touch the database
        (it runs on a worker thread). `retries` overrides KURRENTDB_MAX_RETRIES (use 0
        for an operation that must not be repeated).

        `inline`: `fn` makes one gRPC call, bounded by its deadline, and nothing else
        that can block (in particular no reconnecting: call the client's method
        through `direct`). While the node answers and a client is connected, it then
        runs on the calling thread, which spares a thread hop (~0.2 ms a write);
        otherwise on a worker thread like any call.

        `as_probe`: the health probe, the one caller that may try a watched environment
        that is down (every other call is refused at once meanwhile).
        """
        state = self._env(env)
        name = state.name
        metrics.CALLS.labels(name, operation).inc()
        started = time.monotonic()
        try:
            return self._call(state, operation, fn, retries, started, inline, as_probe)
        finally:
            metrics.LATENCY.labels(name, operation).observe(time.monotonic() - started)

    @contextlib.contextmanager
    def stream_slot(self, env: str | None = None) -> Iterator[None]:
        """Hold one of KURRENTDB_MAX_CONCURRENT_STREAMS slots for a long read or subscription.

        Raises KurrentBusy at once when all are taken, never queues.
        """
        state = self._env(env)
        self._check_usable(state)
        if not state.slots.acquire(blocking=False):
            metrics.ERRORS.labels(state.name, "stream", "busy").inc()
            raise KurrentBusy(
                f"KurrentDB {state.name} is busy: {state.max_streams} long reads or "
                "subscriptions are already open (KURRENTDB_MAX_CONCURRENT_STREAMS). "
                "Try again in a moment."
            )
        metrics.STREAMS_OPEN.labels(state.name).inc()
        try:
            yield
        finally:
            metrics.STREAMS_OPEN.labels(state.name).dec()
            state.slots.release()

    def health(self, env: str | None = None) -> Health:
        """The environment's health, probed at most once per sync interval; while a
        monitor watches it (`watch`), what the monitor last found, at once."""
        state = self._env(env)
        static = self._static_health(state)
        if static is not None:
            return static
        if state.watched:
            if state.health is not None:
                return state.health
            if self._in_backoff(state):
                return self._down_health(state)
            # Nothing found yet (a process's first request): probe, as unwatched.
        fresh = self._fresh_health(state)
        if fresh is not None:
            return fresh
        if self._in_backoff(state):
            return self._down_health(state)
        if not state.probe_lock.acquire(blocking=False):
            # Someone is probing: show what we had, or wait for their answer.
            if state.health is not None:
                return state.health
            if not state.probe_lock.acquire(timeout=state.profile.timeout_s + 1):
                return state.health or self._down_health(state)
        try:
            return self._fresh_health(state) or self._probe(state)
        finally:
            state.probe_lock.release()

    def watch(self, env: str, watched: bool = True) -> None:
        """A monitor probes `env` from now on (`refresh_health`); requests stop doing it.
        `watched=False`: the monitor stopped, requests probe and try again themselves."""
        self._env(env).watched = watched

    def refresh_health(self, env: str) -> Health:
        """Probe `env` now, unless it is backing off after a failure (then: down, as it
        was found). For the health monitor, which calls it once per sync interval."""
        state = self._env(env)
        static = self._static_health(state)
        if static is not None:
            return static
        if self._in_backoff(state):
            known = state.health
            return known if known is not None and known.state == DOWN else self._down_health(state)
        if not state.probe_lock.acquire(timeout=state.profile.timeout_s + 1):
            return state.health or self._down_health(state)
        try:
            return self._probe(state)
        finally:
            state.probe_lock.release()

    def check_now(self, env: str) -> Health:
        """An admin's "check now": end the backoff and probe at once (bounded by the
        timeout). A probe already under way is waited for instead."""
        state = self._env(env)
        with state.lock:
            if state.down_until is not None and not state.trial:
                state.down_until = time.monotonic()
        return self.refresh_health(env)

    def retry_in(self, env: str) -> float:
        """Seconds until a down environment may be tried again (0 when it is up)."""
        state = self._env(env)
        with state.lock:
            until = state.down_until
        return 0.0 if until is None else max(0.0, until - time.monotonic())

    def health_all(self) -> dict[str, Health]:
        """Every environment's health, in the order dev, staging, test, mainnet.

        Environments that need a probe are probed in parallel, so one slow environment
        does not add its timeout to the others'.
        """
        results: dict[str, Health] = {}
        to_probe = []
        for name in environments():
            state = self._env(name)
            known = self._static_health(state) or self._fresh_health(state)
            if known is None and self._in_backoff(state):
                known = self._down_health(state)
            if known is not None:
                results[name] = known
            else:
                to_probe.append(name)
        threads = [
            threading.Thread(
                target=lambda n=name: results.__setitem__(n, self.health(n)),
                name=f"kurrent-health-{name}",
                daemon=True,
            )
            for name in to_probe[1:]
        ]
        for thread in threads:
            thread.start()
        if to_probe:
            results[to_probe[0]] = self.health(to_probe[0])
        for thread in threads:
            thread.join()
        return {name: results[name] for name in environments()}

    def failed(self, env: str | None, operation: str, exc: BaseException) -> BaseException:
        """For code that uses `client()` directly (subscriptions): account for an error.

        Returns the exception to raise: KurrentUnavailable (and the environment marked
        down) when `exc` means the node cannot be reached, else `exc` itself.
        """
        state = self._env(env)
        reason = explain(exc, state.profile)
        if reason is None:
            metrics.ERRORS.labels(state.name, operation, type(exc).__name__).inc()
            return exc
        metrics.ERRORS.labels(state.name, operation, "unavailable").inc()
        self._failed(state, reason, None)
        return KurrentUnavailable(self._unavailable_message(state, reason))

    def succeeded(self, env: str | None = None) -> None:
        """For code that uses `client()` directly: the node answered."""
        self._succeeded(self._env(env))

    def reset(self) -> None:
        """Close every client and forget all state (settings are read again)."""
        with self._lock:
            envs, self._envs = self._envs, {}
        for state in envs.values():
            with state.lock:
                client, state.client = state.client, None
            close_quietly(client)

    # --- calls ----------------------------------------------------------------

    def _call(
        self,
        state: _Env,
        operation: str,
        fn: Callable[[KurrentDBClient, float], T],
        retries: int | None,
        started: float,
        inline: bool = False,
        as_probe: bool = False,
    ) -> T:
        name = state.name
        try:
            self._check_usable(state)
            trial = self._admit(state, as_probe)
        except NotConfigured:
            metrics.ERRORS.labels(name, operation, "not_configured").inc()
            raise
        except KurrentUnavailable:
            metrics.ERRORS.labels(name, operation, "rejected").inc()
            raise
        profile = state.profile
        deadline = started + profile.timeout_s
        retries_left = 0 if trial else (profile.max_retries if retries is None else retries)
        pause = RETRY_PAUSE_S
        timed_out = False  # an attempt went unanswered: a write may have been stored
        while True:
            used: list[KurrentDBClient] = []
            try:
                result = self._run_bounded(state, fn, deadline, used, inline and not trial)
            except FutureTimeout:
                reason, kind = f"no answer within {profile.timeout_s:g} s", "timeout"
            except BaseException as exc:
                reason = explain(exc, profile)
                kind = "timeout" if isinstance(exc, DeadlineExceededError) else "unavailable"
                if reason is None:
                    metrics.ERRORS.labels(name, operation, type(exc).__name__).inc()
                    if isinstance(exc, KurrentDBClientError):
                        self._succeeded(state)  # the node answered
                    elif trial:
                        with state.lock:
                            state.trial = False
                    raise
            else:
                self._succeeded(state)
                return result
            timed_out = timed_out or kind == "timeout"
            self._discard_client(state, used[0] if used else None)
            remaining = deadline - time.monotonic()
            if retries_left > 0 and remaining > 2 * pause + MIN_RPC_TIMEOUT_S:
                retries_left -= 1
                time.sleep(pause * random.uniform(0.5, 1.0))
                pause *= 2
                continue
            metrics.ERRORS.labels(name, operation, kind).inc()
            self._failed(state, reason, None)
            error = KurrentTimeout if timed_out else KurrentUnavailable
            raise error(self._unavailable_message(state, reason))

    def _run_bounded(
        self,
        state: _Env,
        fn: Callable[[KurrentDBClient, float], T],
        deadline: float,
        used: list[KurrentDBClient],
        inline: bool = False,
    ) -> T:
        client = state.client
        if inline and client is not None and state.failures == 0:
            used.append(client)
            return fn(client, max(MIN_RPC_TIMEOUT_S, deadline - time.monotonic() - 0.005))

        def work() -> T:
            client = self._ensure_client(state)
            used.append(client)
            return fn(client, max(MIN_RPC_TIMEOUT_S, deadline - time.monotonic() - 0.005))

        future: Future[T] = self._executor().submit(work)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            future.cancel()
            raise

    def _ensure_client(self, state: _Env) -> KurrentDBClient:
        client = state.client
        if client is not None:
            return client
        with state.create_lock:
            if state.client is not None:
                return state.client
            client = new_client(state.profile)
            with state.lock:
                state.client = client
            return client

    def _discard_client(self, state: _Env, client: KurrentDBClient | None) -> None:
        """Close the client that failed, so the next attempt connects afresh.

        Closing also cancels calls still hanging on it, which frees their workers.
        """
        with state.lock:
            if client is None or state.client is not client:
                return
            state.client = None
        close_quietly(client)

    def _executor(self) -> Workers:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = Workers(self._workers)
                pool = self._pool
        return pool

    # --- state ----------------------------------------------------------------

    def _env(self, env: str | None) -> _Env:
        name = env or active_environment()
        state = self._envs.get(name)
        if state is not None:
            return state
        if name not in environments():
            raise NotConfigured(f"There is no KurrentDB environment named {name!r}.")
        with self._lock:
            state = self._envs.get(name)
            if state is None:
                state = _Env(get_profile(name), settings.KURRENTDB_MAX_CONCURRENT_STREAMS)
                self._envs[name] = state
            return state

    def _check_usable(self, state: _Env) -> None:
        if not settings.KURRENTDB_ENABLED:
            raise NotConfigured("KurrentDB is switched off (KURRENTDB_ENABLED is false).")
        if not state.profile.is_configured:
            raise NotConfigured(
                f"The {state.name} environment has no KurrentDB: set {var(state.name, 'URL')}."
            )

    def _in_backoff(self, state: _Env) -> bool:
        with state.lock:
            return state.down_until is not None and (
                time.monotonic() < state.down_until or state.trial
            )

    def _admit(self, state: _Env, as_probe: bool = False) -> bool:
        """Let a call through; True when it is the one trial after a backoff (for a
        watched environment, only the monitor's probe may be that trial)."""
        if state.down_until is None:
            return False
        with state.lock:
            if state.down_until is None:
                return False
            waiting = time.monotonic() < state.down_until or state.trial
            if waiting or (state.watched and not as_probe):
                raise KurrentUnavailable(self._down_message(state))
            state.trial = True
            return True

    def _succeeded(self, state: _Env) -> None:
        now = datetime.now(UTC)
        if state.down_until is None and state.failures == 0:
            if state.last_success_at is None:
                metrics.UP.labels(state.name).set(1)
            state.last_success_at = now
            return
        with state.lock:
            was_down = state.down_until is not None
            attempts = state.failures
            state.failures = 0
            state.down_until = None
            state.trial = False
            state.last_success_at = now
            state.health = None
        metrics.UP.labels(state.name).set(1)
        metrics.RECONNECT_ATTEMPTS.labels(state.name).set(0)
        if was_down:
            log.info("KurrentDB %s is back after %d failed attempt(s)", state.name, attempts)

    def _failed(self, state: _Env, reason: str, client: KurrentDBClient | None) -> None:
        with state.lock:
            was_up = state.down_until is None
            state.failures += 1
            # Capped at the sync interval: a node that is back is found within two.
            cap = min(self.backoff_cap_s, state.profile.sync_interval_s)
            delay = min(cap, self.backoff_base_s * 2 ** (state.failures - 1))
            state.down_until = time.monotonic() + delay * random.uniform(0.5, 1.0)
            state.trial = False
            state.last_error = reason
            state.last_error_at = datetime.now(UTC)
            state.health = None
            attempts = state.failures
        self._discard_client(state, client or state.client)
        metrics.UP.labels(state.name).set(0)
        metrics.RECONNECT_ATTEMPTS.labels(state.name).set(attempts)
        if was_up:
            log.warning("KurrentDB %s (%s) is down: %s", state.name, state.where(), reason)
        else:
            log.debug("KurrentDB %s still down (attempt %d): %s", state.name, attempts, reason)

    def _unavailable_message(self, state: _Env, reason: str) -> str:
        return f"KurrentDB {state.name} ({state.where()}) is unavailable: {reason}."

    def _down_message(self, state: _Env) -> str:
        wait = max(0.0, (state.down_until or 0.0) - time.monotonic())
        retry = f"next try in {wait:.1f} s" if wait > 0 else "a reconnection is under way"
        return (
            f"KurrentDB {state.name} ({state.where()}) is unavailable: "
            f"{state.last_error or 'it did not answer'}; {retry}."
        )

    # --- health ---------------------------------------------------------------

    def _static_health(self, state: _Env) -> Health | None:
        if not settings.KURRENTDB_ENABLED:
            return self._blank_health(state, DISABLED, "KURRENTDB_ENABLED is false")
        if not state.profile.is_configured:
            return self._blank_health(state, NOT_CONFIGURED, f"{var(state.name, 'URL')} is empty")
        return None

    def _fresh_health(self, state: _Env) -> Health | None:
        cached = state.health
        if (
            cached is not None
            and time.monotonic() - state.health_at < state.profile.sync_interval_s
        ):
            return cached
        return None

    def _blank_health(
        self, state: _Env, status: str, reason: str | None, checked_at: datetime | None = None
    ) -> Health:
        profile = state.profile
        return Health(
            env=state.name,
            state=status,
            latency_ms=None,
            node_state=None,
            node_address=None,
            last_error=state.last_error,
            last_success_at=state.last_success_at,
            reconnect_attempts=state.failures,
            checked_at=checked_at or datetime.now(UTC),
            is_production=profile.is_production,
            redacted_url=profile.redacted_url(),
            reason=reason,
            uses_embedded=profile.uses_embedded,
            last_error_at=state.last_error_at,
        )

    def _down_health(self, state: _Env) -> Health:
        """Down, as found when it last failed (its age is that failure's)."""
        return self._blank_health(state, DOWN, state.last_error, state.last_error_at)

    def _probe(self, state: _Env) -> Health:
        try:
            members, position, latency_s, target = self.call(
                state.name, "probe", probe, retries=0, as_probe=True
            )
        except KurrentUnavailable:
            health = self._down_health(state)
        else:
            status, reason, member = judge(
                latency_s * 1000, members, target, state.profile.timeout_s
            )
            health = Health(
                env=state.name,
                state=status,
                latency_ms=round(latency_s * 1000, 2),
                node_state=NODE_STATE_WORDS.get(member.state, "other") if member else None,
                node_address=f"{member.address}:{member.port}" if member else target,
                last_error=state.last_error,
                last_success_at=state.last_success_at,
                reconnect_attempts=state.failures,
                checked_at=datetime.now(UTC),
                is_production=state.profile.is_production,
                redacted_url=state.profile.redacted_url(),
                commit_position=position,
                reason=reason,
                uses_embedded=state.profile.uses_embedded,
                last_error_at=state.last_error_at,
            )
        state.health = health
        state.health_at = time.monotonic()
        history.record_probe(state.name, health.latency_ms)  # the status cards' sparklines
        return health


connections = ConnectionManager()
# Close the channels while grpc is still importable (avoids noise from __del__ at exit).
atexit.register(connections.reset)
