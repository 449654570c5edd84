"""Shared tools of the fuzz tests (``test_fuzz_catalogs.py``, ``test_fuzz_images.py``).

Hypothesis settings (derandomised: a fixed sequence of examples per test, so a CI
failure reproduces; raise ``max_examples`` locally to explore further), the count of
cases tried by outcome, and the check that an error is galmorph's own, with a message.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import Counter
from collections.abc import Iterator

from hypothesis import HealthCheck, settings

from galmorph.data.bundled import demo_dir
from galmorph.exceptions import GalmorphError

IMAGES = sorted((demo_dir() / "images").glob("*.jpg"))[:3]


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much,
        ],
    )


def report(name: str, outcomes: Counter, minimum: int) -> None:
    cases = sum(outcomes.values())
    print(f"\n{name}: {cases} cases: {dict(outcomes)}")
    assert cases >= minimum, f"{name} tried only {cases} cases"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No warnings or console output from the code under test."""
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


def expect_galmorph_error(err: GalmorphError, kind: type[GalmorphError] = GalmorphError) -> str:
    assert isinstance(err, kind), f"{type(err).__name__}: {err}"
    assert str(err).strip(), "an error without a message"
    return type(err).__name__
