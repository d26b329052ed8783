"""Strict one-pass decoding of the wire schema, and cheap construction of schema payloads.

py-ipv8's serializer slices a length-prefixed field without checking that it stays inside the packet, ignores slack
inside a nested payload and reads any non-zero byte as ``True``; the arena used to accept a payload only if it
re-encoded to the bytes it came from, which cost an unpack *and* a pack per packet. The decoder compiled here reads
each field once and refuses exactly what that round trip refused: a length past the end (of the packet or of the
nested payload it sits in), bytes left over, a bool that is not 0 or 1, UTF-8 that does not decode. A hypothesis test
(``tests/test_codec.py``) holds it to the round trip on random and mutated encodings of every schema type.

Objects are built by writing their ``__dict__`` directly (py-ipv8's generated ``__init__`` goes through
``Frozen.__setattr__`` once per field), and lists arrive as tuples, as ``Frozen`` stores them.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address
from ipv8.messaging.serialization import default_serializer

Decoder = Callable[[bytes, int, int], tuple[Any, int]]

#: fixed-size formats the compiled decoder reads with ``struct`` (big-endian, as py-ipv8 packs them)
_FIXED = {"B": "B", "H": "H", "I": "I", "Q": "Q", "q": "q", "20s": "20s", "32s": "32s", "64s": "64s", "?": "B"}
#: length-prefixed formats: prefix size, and whether the bytes are UTF-8 text
_VARLEN = {"varlenH": (2, False), "varlenI": (4, False), "varlenHutf8": (2, True), "varlenIutf8": (4, True)}
_H = struct.Struct(">H")
_I = struct.Struct(">I")
_IPV4 = struct.Struct(">4sH")

_decoders: dict[type, Decoder] = {}


class NonCanonical(ValueError):
    """The bytes decode, but not from their one canonical encoding (a length past the end, slack, a loose bool)."""


def round_trip_decode(cls: type[Any], data: bytes, offset: int = 0) -> Any:
    """The reference: py-ipv8's unpack of ``data[offset:]``, accepted only if it re-encodes to exactly those bytes.
    Used for any class the compiler does not know, and by the test that holds the compiled decoder to it."""
    (payload,) = default_serializer.unpack_serializable_list([cls], data, offset=offset)
    if bytes(default_serializer.pack_serializable(payload)) != bytes(data[offset:]):
        raise NonCanonical(f"{cls.__name__}: not the canonical encoding")
    return payload


def decode(cls: type[Any], data: bytes, start: int = 0, end: int | None = None) -> Any:
    """Decode ``data[start:end]`` as exactly one canonically encoded ``cls``; raise ``ValueError`` otherwise."""
    stop = len(data) if end is None else end
    if stop > len(data) or start > stop:
        raise NonCanonical(f"{cls.__name__}: bounds outside the data")
    fn = _decoders.get(cls)
    if fn is None:
        fn = _compile(cls)
    obj, offset = fn(data, start, stop)
    if offset != stop:
        raise NonCanonical(f"{cls.__name__}: {stop - offset} trailing bytes")
    return obj


def _compile(cls: type[Any]) -> Decoder:
    """Build (and remember) the decoder of one payload class, or a round-trip fallback for unknown formats."""
    steps: list[Callable[[bytes, int, int, list[Any]], int]] = []
    fixed: list[str] = []
    known = True

    def close_fixed() -> None:
        if fixed:
            steps.append(_fixed_step(list(fixed)))
            fixed.clear()

    for fmt in cls.format_list:
        if isinstance(fmt, str) and fmt in _FIXED:
            fixed.append(fmt)
            continue
        close_fixed()
        if isinstance(fmt, str) and fmt in _VARLEN:
            steps.append(_varlen_step(*_VARLEN[fmt]))
        elif fmt == "ipv4":
            steps.append(_ipv4_step)
        elif isinstance(fmt, list) and len(fmt) == 1 and isinstance(fmt[0], type):
            steps.append(_list_step(fmt[0]))
        elif isinstance(fmt, type):
            steps.append(_nested_step(fmt))
        else:
            known = False
            break
    close_fixed()
    fn = _make(cls, steps) if known else _fallback(cls)
    _decoders[cls] = fn
    return fn


def _make(cls: type[Any], steps: list[Callable[[bytes, int, int, list[Any]], int]]) -> Decoder:
    names = tuple(cls.names)
    new = object.__new__

    def run(data: bytes, offset: int, end: int) -> tuple[Any, int]:
        values: list[Any] = []
        for step in steps:
            offset = step(data, offset, end, values)
        obj = new(cls)
        obj.__dict__.update(zip(names, values, strict=True))
        return obj, offset

    return run


def _fallback(cls: type[Any]) -> Decoder:
    def run(data: bytes, offset: int, end: int) -> tuple[Any, int]:
        return round_trip_decode(cls, bytes(data[offset:end])), end

    return run


def _fixed_step(formats: list[str]) -> Callable[[bytes, int, int, list[Any]], int]:
    st = struct.Struct(">" + "".join(_FIXED[f] for f in formats))
    size = st.size
    bools = tuple(i for i, f in enumerate(formats) if f == "?")

    def step(data: bytes, offset: int, end: int, out: list[Any]) -> int:
        if offset + size > end:
            raise NonCanonical("fixed fields run past the end")
        vals = st.unpack_from(data, offset)
        if bools:
            vals_list = list(vals)
            for i in bools:
                if vals_list[i] > 1:
                    raise NonCanonical("a bool that is neither 0 nor 1")
                vals_list[i] = vals_list[i] == 1
            out.extend(vals_list)
        else:
            out.extend(vals)
        return offset + size

    return step


def _varlen_step(prefix: int, text: bool) -> Callable[[bytes, int, int, list[Any]], int]:
    length = _H if prefix == 2 else _I

    def step(data: bytes, offset: int, end: int, out: list[Any]) -> int:
        if offset + prefix > end:
            raise NonCanonical("a length prefix past the end")
        (n,) = length.unpack_from(data, offset)
        offset += prefix
        if offset + n > end:
            raise NonCanonical("a length past the end")
        value = bytes(data[offset:offset + n])
        out.append(value.decode("utf-8") if text else value)
        return offset + n

    return step


def _ipv4_step(data: bytes, offset: int, end: int, out: list[Any]) -> int:
    if offset + 6 > end:
        raise NonCanonical("an address past the end")
    host, port = _IPV4.unpack_from(data, offset)
    out.append(UDPv4Address(socket.inet_ntoa(host), port))
    return offset + 6


def _nested(sub: type[Any], data: bytes, offset: int, end: int) -> tuple[Any, int]:
    if offset + 2 > end:
        raise NonCanonical("a nested size past the end")
    (n,) = _H.unpack_from(data, offset)
    offset += 2
    stop = offset + n
    if stop > end:
        raise NonCanonical("a nested payload past the end")
    fn = _decoders.get(sub) or _compile(sub)
    obj, used = fn(data, offset, stop)
    if used != stop:
        raise NonCanonical(f"{sub.__name__}: slack inside a nested payload")
    return obj, stop


def _nested_step(sub: type[Any]) -> Callable[[bytes, int, int, list[Any]], int]:
    def step(data: bytes, offset: int, end: int, out: list[Any]) -> int:
        obj, offset = _nested(sub, data, offset, end)
        out.append(obj)
        return offset

    return step


def _list_step(sub: type[Any]) -> Callable[[bytes, int, int, list[Any]], int]:
    def step(data: bytes, offset: int, end: int, out: list[Any]) -> int:
        if offset + 1 > end:
            raise NonCanonical("a list count past the end")
        count = data[offset]
        offset += 1
        items = []
        for _ in range(count):
            obj, offset = _nested(sub, data, offset, end)
            items.append(obj)
        out.append(tuple(items))
        return offset

    return step


_encoders: dict[type, Callable[[Any], bytes]] = {}


def encode(obj: Any) -> bytes:
    """The canonical bytes of a schema object, as py-ipv8's ``pack_serializable`` makes them: the same ``struct``
    formats field by field, fixed runs packed at once. Anything it cannot pack goes to py-ipv8, so a bad value raises
    py-ipv8's own error."""
    try:
        fn = _encoders.get(type(obj)) or _compile_encoder(type(obj))
        return fn(obj)
    except Exception:
        return bytes(default_serializer.pack_serializable(obj))


Packer = Callable[[Any], bytes]


def _compile_encoder(cls: type[Any]) -> Packer:
    parts: list[Packer] = []
    fixed: list[tuple[str, str]] = []

    def close_fixed() -> None:
        if fixed:
            parts.append(_fixed_packer([n for n, _ in fixed], [f for _, f in fixed]))
            fixed.clear()

    for name, fmt in zip(cls.names, cls.format_list, strict=True):
        if isinstance(fmt, str) and fmt in _FIXED:
            fixed.append((name, fmt))
            continue
        close_fixed()
        if isinstance(fmt, str) and fmt in _VARLEN:
            parts.append(_varlen_packer(name, *_VARLEN[fmt]))
        elif fmt == "ipv4":
            parts.append(_ipv4_packer(name))
        elif isinstance(fmt, list) and len(fmt) == 1 and isinstance(fmt[0], type):
            parts.append(_field_packer(name, _pack_list))
        elif isinstance(fmt, type):
            parts.append(_field_packer(name, _pack_nested))
        else:
            _encoders[cls] = _generic_pack
            return _generic_pack
    close_fixed()

    def run(o: Any) -> bytes:
        return b"".join([p(o) for p in parts])

    _encoders[cls] = run
    return run


def _generic_pack(o: Any) -> bytes:
    return bytes(default_serializer.pack_serializable(o))


def _fixed_packer(names: list[str], formats: list[str]) -> Packer:
    # "?" packs as struct's "?" (any truthy value is 1), exactly as py-ipv8 does
    st = struct.Struct(">" + "".join("?" if f == "?" else _FIXED[f] for f in formats))
    fields = tuple(names)

    def pack(o: Any) -> bytes:
        return st.pack(*[getattr(o, n) for n in fields])

    return pack


def _varlen_packer(name: str, prefix: int, text: bool) -> Packer:
    length = _H if prefix == 2 else _I

    def pack(o: Any) -> bytes:
        value = getattr(o, name)
        data = value.encode() if text else value
        return length.pack(len(data)) + data

    return pack


def _ipv4_packer(name: str) -> Packer:
    def pack(o: Any) -> bytes:
        host, port = getattr(o, name)
        return _IPV4.pack(socket.inet_aton(host), port)

    return pack


def _field_packer(name: str, inner: Packer) -> Packer:
    def pack(o: Any) -> bytes:
        return inner(getattr(o, name))

    return pack


def _pack_nested(obj: Any) -> bytes:
    data = encode(obj)
    return _H.pack(len(data)) + data


_B = struct.Struct(">B")


def _pack_list(items: Any) -> bytes:
    return _B.pack(len(items)) + b"".join([_pack_nested(i) for i in items])


def fast_init(cls: type[Any]) -> None:
    """Give a schema class an ``__init__`` that fills ``__dict__`` directly, lists stored as tuples (what
    ``Frozen.__setattr__`` would do field by field). Defaults of the original ``__init__`` are kept."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    names = list(cls.names)
    defaults = {k: v.default for k, v in params.items() if v.default is not inspect.Parameter.empty}
    args = ", ".join(f"{n}=_d[{n!r}]" if n in defaults else n for n in names)
    body = "\n    ".join(f"d[{n!r}] = tuple({n}) if type({n}) is list else {n}" for n in names) or "pass"
    src = f"def __init__(self, {args}):\n    d = self.__dict__\n    {body}\n"
    scope: dict[str, Any] = {"_d": defaults}
    exec(compile(src, f"<fast_init {cls.__name__}>", "exec"), scope)  # source generated from the class names
    cls.__init__ = scope["__init__"]
