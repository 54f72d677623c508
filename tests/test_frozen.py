"""skewless.frozen.fast_init: the same objects as the dataclass's own __init__, still frozen."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field
from typing import ClassVar

import pytest

from skewless.clock import ClockReading
from skewless.frozen import fast_init
from skewless.node import messages
from skewless.node.effects import Reply


def _pair() -> tuple[type, type]:
    def make() -> type:
        @dataclass(frozen=True, slots=True)
        class Msg:
            KIND: ClassVar[int] = 7
            a: int
            b: tuple[int, ...]
            c: str = "c"
            d: object = None

            def __post_init__(self) -> None:
                assert self.a >= 0, self.a
        return Msg
    return make(), fast_init(make())


def test_fast_init_builds_the_same_objects_and_keeps_them_frozen() -> None:
    plain, fast = _pair()
    assert getattr(fast.__init__, "fast_init", False)
    for args, kwargs in [((1, (2,)), {}), ((1, (2,), "x"), {}), ((1,), {"b": (), "d": 5}),
                         ((), {"a": 3, "b": (1, 2), "c": "z", "d": None})]:
        p, f = plain(*args, **kwargs), fast(*args, **kwargs)
        assert dataclasses.astuple(p) == dataclasses.astuple(f)
        assert repr(p).split("(", 1)[1] == repr(f).split("(", 1)[1]
        assert f == fast(*args, **kwargs) and hash(f) == hash(fast(*args, **kwargs))
        with pytest.raises(dataclasses.FrozenInstanceError):
            f.a = 2
    with pytest.raises(AssertionError):  # __post_init__ still runs
        fast(-1, ())
    with pytest.raises(TypeError):  # a missing field is still an error (decode relies on it)
        fast(1)
    with pytest.raises(TypeError):
        fast(1, (), "c", None, "extra")


def test_classes_it_cannot_rewrite_are_left_alone() -> None:
    @dataclass(frozen=True, slots=True)
    class WithFactory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    for cls in (WithFactory, WithInitVar, NotFrozen):
        init = cls.__init__
        assert fast_init(cls) is cls and cls.__init__ is init


def test_the_hot_classes_are_built_fast() -> None:
    for cls in (messages.Envelope, messages.MutationRequest, messages.MutationResponse, Reply,
                ClockReading):
        assert getattr(cls.__init__, "fast_init", False), cls
    env = messages.Envelope(5, messages.MutationRequest(1, b"u", False))
    assert messages.decode(messages.encode(env)) == env
