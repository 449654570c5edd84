"""Fuzzed inputs of ``galmorph cutouts``: ids, URL templates, service answers and the log.

Whatever hypothesis draws, file names made from ids are safe and distinct (or the clash
is one CatalogError), a URL template is accepted with URLs that hold the position, or
refused with a GalmorphError, any bytes a service answers are judged with a reason
(never an exception), and any text in ``sources.csv`` is read without one. Each test
counts its cases by outcome (``pytest -s`` prints them) and asserts a minimum.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from tests._fuzz import expect_galmorph_error, fuzz_settings, quiet, report

from galmorph.data.cutout_fetch import image_problem
from galmorph.data.cutout_log import SourceLog
from galmorph.data.cutout_services import PLACEHOLDERS, custom_service
from galmorph.data.cutout_targets import MAX_NAME, file_names
from galmorph.exceptions import CatalogError, GalmorphError

_ids = st.lists(st.one_of(st.text(min_size=1, max_size=30),
                          st.from_regex(r"[A-Za-z0-9 +.\-/]{1,20}", fullmatch=True)),
                min_size=1, max_size=12)
_pieces = st.lists(st.one_of(
    st.sampled_from([f"{{{name}}}" for name in PLACEHOLDERS] + ["{", "}", "{{", "}}", "{x}",
                                                               "{ra:.3f}", "{0}", "{}", " "]),
    st.text(alphabet="abc=&?/.:%-", max_size=6)), max_size=8)


def test_file_names_are_safe_and_distinct_or_the_clash_is_named() -> None:
    outcomes: Counter = Counter()

    @fuzz_settings(150)
    @given(ids=_ids)
    def check(ids: list[str]) -> None:
        try:
            names = file_names(pd.Series(ids))
        except CatalogError as err:
            outcomes[expect_galmorph_error(err, CatalogError)] += 1
            return
        assert all(re.fullmatch(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*", n) for n in names)
        assert all(len(n) <= MAX_NAME for n in names)
        assert len({n.lower() for n in names}) == len(names)
        outcomes["named"] += 1

    check()
    report("file names", outcomes, 150)
    assert outcomes["named"] > 0


def test_url_templates_are_refused_or_give_urls_that_hold_the_position() -> None:
    outcomes: Counter = Counter()

    @fuzz_settings(200)
    @given(pieces=_pieces, position=st.booleans())
    def check(pieces: list[str], position: bool) -> None:
        template = ("https://example.org/c?" + "".join(pieces)
                    + ("&ra={ra}&dec={dec}" if position else ""))
        try:
            service = custom_service(template, "jpg")
        except GalmorphError as err:
            outcomes[expect_galmorph_error(err)] += 1
            return
        url = service.url("jpg", ra=12.3456789, dec=-7.5, size=64, pixel_scale=0.25,
                          galaxy_id="a b/c")
        assert "12.3456789" in url and "-7.5000000" in url and " " not in url
        outcomes["accepted"] += 1

    check()
    report("templates", outcomes, 200)
    assert outcomes["accepted"] > 0


def test_any_answer_is_judged_with_a_reason() -> None:
    outcomes: Counter = Counter()

    @fuzz_settings(150)
    @given(data=st.binary(max_size=3000), fmt=st.sampled_from(["jpg", "png", "fits"]))
    def check(data: bytes, fmt: str) -> None:
        with quiet():
            problem = image_problem(data, fmt)
        assert problem is not None and str(problem)  # random bytes are never an image
        outcomes["temporary" if problem.temporary else "refused"] += 1

    check()
    report("answers", outcomes, 150)


def test_any_log_is_read_and_then_appended_to_whole(tmp_path: Path) -> None:
    outcomes: Counter = Counter()
    path = tmp_path / "sources.csv"

    @fuzz_settings(100)
    @given(text=st.text(max_size=400))
    def check(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        SourceLog(path).record("images/new.jpg", "http://x/new")
        assert SourceLog(path).matches("images/new.jpg", "http://x/new")
        outcomes["read"] += 1

    check()
    report("logs", outcomes, 100)
