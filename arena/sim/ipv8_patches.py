"""Make py-ipv8 deterministic inside the simulator, and cheap where it is a pure function.

py-ipv8 reads the wall clock (``time.time()``: peer liveness, the random walk, churn, DHT expiry, bootstrap and
tunnel timeouts, statistics) and the global ``random`` (introductions, request cache ids, DHT routing, tunnels) in
many modules. Inside a simulation every module-level name of a py-ipv8 module (``ipv8``, ``ipv8.*``,
``ipv8_service``) that refers to one of them is pointed elsewhere, and put back when the simulation ends:

* the ``time`` module itself (``import time``) becomes a stand-in module whose ``time``/``time_ns`` read the
  virtual clock; every other attribute is the real module's (``time.sleep``, ``time.monotonic``, ...);
* ``time.time``/``time.time_ns`` bound directly (``from time import time``, under any name) become the clock;
* the ``random`` module becomes a stand-in whose global-state functions (``random()``, ``choice``, ``sample``,
  ``randint``, ``shuffle``, ...) are the seeded stream's; those functions bound directly become the stream's;
* likewise ``os.urandom`` (``os`` becomes a stand-in with only that changed) and the ``secrets`` functions (DHT
  token secrets, tunnel packet identifiers, attestation nonces) draw from the seeded stream.

Names are found by identity, not by a list of known modules, so no module can be forgotten; a py-ipv8 module first
imported while the block is active (lazily, inside the run) is patched as soon as its code has run, by a finder
placed first on ``sys.meta_path`` for the block's duration. Nothing outside py-ipv8 is touched: the process-wide
``time.time`` stays the machine's (a Dask worker or pytest may run other code in the same process).

Crypto goes through :func:`arena.runtime.crypto.fast_crypto`: libsodium for curve25519 keys, with py-ipv8's exact
answers; signatures are memoised (Ed25519 is deterministic), and so is verification, a pure function of (key, data,
signature): every recipient still runs the check on its code path, but a broadcast signed once is verified once per
process.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import random
import secrets
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ipv8.keyvault.crypto import default_eccrypto

from arena.runtime.crypto import VerifyCache, fast_crypto

__all__ = ["VerifyCache", "VirtualTime", "is_ipv8_module", "virtual_ipv8", "virtual_time"]

#: The real objects a patched name may refer to.
REAL_TIME = time
REAL_RANDOM = random
REAL_TIME_FUNCS: dict[str, Callable[[], Any]] = {"time": time.time, "time_ns": time.time_ns}
#: The functions of ``random`` that draw from its hidden global instance (``random.random``, ``random.choice``, ...).
GLOBAL_RANDOM_FUNCS: dict[str, Any] = {
    name: value for name, value in vars(random).items()
    if callable(value) and getattr(value, "__self__", None) is random._inst  # type: ignore[attr-defined]
}  # (``random``/``getrandbits`` are C methods, the others Python ones)
#: The operating system's randomness py-ipv8 draws (DHT token secrets, tunnel identifiers, attestation nonces).
REAL_OS_RANDOM: dict[str, Any] = {"os:urandom": os.urandom, **{
    f"secrets:{name}": getattr(secrets, name) for name in ("randbelow", "randbits", "choice", "token_bytes",
                                                           "token_hex", "token_urlsafe")}}


#: ``id`` of each real object a patched name may refer to -> its kind (the objects live as long as the process).
_REAL_KINDS: dict[int, str] = {
    id(REAL_TIME): "module:time", id(REAL_RANDOM): "module:random", id(os): "module:os",
    id(secrets): "module:secrets", **{id(fn): kind for kind, fn in REAL_OS_RANDOM.items()},
    **{id(fn): name for name, fn in REAL_TIME_FUNCS.items()},
    **{id(fn): f"random:{name}" for name, fn in GLOBAL_RANDOM_FUNCS.items()},
}


def is_ipv8_module(name: str) -> bool:
    """Whether the module named ``name`` is py-ipv8's (and so is patched)."""
    return name == "ipv8" or name.startswith("ipv8.") or name == "ipv8_service"


class _StandIn(types.ModuleType):
    """A module that answers some attributes itself and every other one from the real module."""

    def __init__(self, real: types.ModuleType, overrides: dict[str, Any]) -> None:
        super().__init__(real.__name__, real.__doc__)
        self.__dict__.update(overrides)
        self.__dict__["_arena_real"] = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_arena_real"], name)

    def __repr__(self) -> str:
        return f"<arena stand-in for module {self.__name__!r}>"


def _seeded_os_random(rng: random.Random) -> dict[str, Any]:
    """``os.urandom`` and the ``secrets`` functions, drawing from ``rng`` (a simulation's keys and secrets need
    not be unpredictable, only reproducible)."""

    def token_bytes(nbytes: int | None = None) -> bytes:
        return rng.randbytes(32 if nbytes is None else nbytes)

    def token_hex(nbytes: int | None = None) -> str:
        return token_bytes(nbytes).hex()

    def token_urlsafe(nbytes: int | None = None) -> str:
        import base64

        return base64.urlsafe_b64encode(token_bytes(nbytes)).rstrip(b"=").decode("ascii")

    def randbelow(exclusive_upper_bound: int) -> int:
        if exclusive_upper_bound <= 0:
            raise ValueError("Upper bound must be positive.")
        return rng.randrange(exclusive_upper_bound)

    return {"os:urandom": rng.randbytes, "secrets:randbelow": randbelow, "secrets:randbits": rng.getrandbits,
            "secrets:choice": rng.choice, "secrets:token_bytes": token_bytes, "secrets:token_hex": token_hex,
            "secrets:token_urlsafe": token_urlsafe}


class VirtualTime:
    """One activation: the replacement objects, and every name it changed (restored in reverse on :meth:`undo`)."""

    def __init__(self, clock: Callable[[], float], rng: random.Random | None) -> None:
        self.clock = clock

        def clock_ns() -> int:
            return int(clock() * 1_000_000_000)

        self.by_kind: dict[str, Any] = {"time": clock, "time_ns": clock_ns,
                                        "module:time": _StandIn(REAL_TIME, {"time": clock, "time_ns": clock_ns})}
        if rng is not None:
            funcs = {name: getattr(rng, name) for name in GLOBAL_RANDOM_FUNCS}
            self.by_kind["module:random"] = _StandIn(REAL_RANDOM, funcs)
            for name, fn in funcs.items():
                self.by_kind[f"random:{name}"] = fn
            for kind, fn in _seeded_os_random(rng).items():
                self.by_kind[kind] = fn
            self.by_kind["module:os"] = _StandIn(os, {"urandom": self.by_kind["os:urandom"]})
            self.by_kind["module:secrets"] = _StandIn(secrets, {
                kind.partition(":")[2]: fn for kind, fn in self.by_kind.items() if kind.startswith("secrets:")})
        #: ``id`` of each replacement -> its kind (the objects live as long as this activation).
        self.kinds: dict[int, str] = {id(obj): kind for kind, obj in self.by_kind.items()}
        #: (module, name, the value before, the block it came from (None: the real object), the real object
        #: behind it, the replacement put there)
        self.saved: list[tuple[types.ModuleType, str, Any, VirtualTime | None, Any, Any]] = []

    def patch_module(self, module: types.ModuleType) -> None:
        """Point every module-level name of ``module`` that refers to the wall clock or the global random (or to
        an enclosing activation's stand-ins for them) at this activation's."""
        namespace = vars(module)
        for name, value in list(namespace.items()):
            kind = _kind_of(value)
            if kind is None:
                continue
            replacement = self.by_kind.get(kind)
            if replacement is None or replacement is value:
                continue
            owner = _owner(value)
            real = value if owner is None else owner.real_behind(module, name, value)
            self.saved.append((module, name, value, owner, real, replacement))
            namespace[name] = replacement

    def real_behind(self, module: types.ModuleType, name: str, replacement: Any) -> Any:
        """The real object this activation's ``replacement`` took the place of at ``module.name``."""
        for mod, attr, *_, real, installed in self.saved:
            if mod is module and attr == name and installed is replacement:
                return real
        return replacement  # not recorded (cannot happen): keep what is there

    def undo(self) -> None:
        """Put back what each name held before, unless a later block has since replaced this one's replacement
        (it puts back on leaving); a value from a block that has already left is put back as the real object, so
        that blocks leaving out of order (two battles in threads of one process) still leave no stand-in behind."""
        for module, name, before, owner, real, installed in reversed(self.saved):
            namespace = vars(module)
            if namespace.get(name) is not installed:
                continue
            namespace[name] = before if owner is None or owner in _ACTIVE else real
        self.saved.clear()


#: Activations in the order they were entered (the last one's replacements are in place).
_ACTIVE: list[VirtualTime] = []


def _owner(value: Any) -> VirtualTime | None:
    """The active block whose replacement ``value`` is, if any."""
    key = id(value)
    for active in _ACTIVE:
        if key in active.kinds:
            return active
    return None


def _kind_of(value: Any) -> str | None:
    """What a module-level value is, as far as patching goes: ``"time"``, ``"module:random"``, ... or None."""
    key = id(value)
    kind = _REAL_KINDS.get(key)
    if kind is None:
        for active in _ACTIVE:
            kind = active.kinds.get(key)
            if kind is not None:
                break
    return kind


class _PatchingLoader(importlib.abc.Loader):
    """Runs a py-ipv8 module with its own loader, then patches it for every active block; the module keeps its
    own loader (``__loader__``, ``__spec__.loader``)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: types.ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        finally:
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader
        for active in list(_ACTIVE):
            active.patch_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _PatchingFinder(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path`` while a block is active: finds py-ipv8 modules with the finders after it and
    wraps their loaders in :class:`_PatchingLoader`."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if not is_ipv8_module(fullname):
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader)
        return spec


_FINDER = _PatchingFinder()


@contextmanager
def virtual_time(clock: Callable[[], float], rng: random.Random | None = None) -> Iterator[VirtualTime]:
    """Within the block, every py-ipv8 module (already imported, or imported during the block) reads ``clock``
    for the wall clock and, with ``rng``, that stream for its global-random draws. Blocks may nest (the inner one
    wins until it leaves), and may leave in any order (battles in threads of one process): the last to leave puts
    the real objects back."""
    active = VirtualTime(clock, rng)
    _ACTIVE.append(active)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    try:
        for name, module in list(sys.modules.items()):
            if is_ipv8_module(name) and isinstance(module, types.ModuleType):
                active.patch_module(module)
        yield active
    finally:
        _ACTIVE.remove(active)
        active.undo()
        if not _ACTIVE:
            while _FINDER in sys.meta_path:
                sys.meta_path.remove(_FINDER)


@contextmanager
def virtual_ipv8(clock: Callable[[], float], rng: random.Random, cache_signatures: bool = True) -> Iterator[
        VerifyCache | None]:
    """Within the block, py-ipv8 reads ``clock`` for the wall clock (:func:`virtual_time`: the simulator passes
    its scenario's epoch plus virtual time) and ``rng`` for randomness; with ``cache_signatures``,
    ``default_eccrypto`` signs and verifies through :func:`~arena.runtime.crypto.fast_crypto` (libsodium, memoised;
    the verify cache is yielded). ``cache_signatures=False`` leaves py-ipv8's crypto exactly as it is (the reference
    the fast path is compared with, and the benchmarks' no-cache variant)."""
    with virtual_time(clock, rng):
        if cache_signatures:
            with fast_crypto(default_eccrypto, cache_verify=True) as patch:
                yield patch.cache
        else:
            yield None
