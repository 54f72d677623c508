"""The lab fails a run whose requests did not each end in exactly one reply
(``exactly_one_reply``): a planted bug that loses node 1's reply to every fifth write it
coordinates is caught; the same seed without it passes."""

from __future__ import annotations

from skewless.lab.runner import RunConfig, run


def _verdict(cfg: RunConfig) -> tuple[bool, tuple[str, ...]]:
    v = next(v for v in run(cfg, trace=False).verdicts if v.checker == "exactly_one_reply")
    return v.ok, v.details


def test_lost_replies_fail_the_run() -> None:
    ok, details = _verdict(RunConfig(3, duration_s=6, planted_bug="lose-replies"))
    assert not ok
    assert any("answered only at their deadline" in d for d in details), details


def test_a_correct_run_has_exactly_one_reply_per_request() -> None:
    ok, details = _verdict(RunConfig(3, duration_s=6))
    assert ok, details
