"""The SQLite label store: durability (real SIGKILLs), history, batches, concurrency, and a
file replaced while open."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from galmorph.anomaly.database import remove_sidecars
from galmorph.anomaly.labels import LabelStore
from galmorph.exceptions import GalmorphError

IDS = [f"G{i}" for i in range(40)]


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    with LabelStore.create(tmp_path / "s.db", {"batch_size": 10}, IDS) as made:
        yield made


def test_label_is_stored_and_visible_to_another_connection(store: LabelStore) -> None:
    record = store.label("G3", 4)
    assert (record.galaxy_id, record.score, record.previous, record.sequence) == ("G3", 4.0,
                                                                                   None, 1)
    with LabelStore.open(store.path) as other:
        assert other.labels() == {"G3": 4.0}
        other.label("G5", 0)
    assert store.labels() == {"G3": 4.0, "G5": 0.0}


def test_relabelling_replaces_the_score_and_keeps_history(store: LabelStore) -> None:
    store.label("G1", 2)
    store.label("G2", 5)
    record = store.label("G1", 4.5)
    assert record.previous == 2.0
    assert store.labels() == {"G2": 5.0, "G1": 4.5}
    assert [(r.score, r.previous) for r in store.history("G1")] == [(2.0, None), (4.5, 2.0)]
    assert [r.galaxy_id for r in store.history()] == ["G1", "G2", "G1"]
    assert store.n_labels() == 2


@pytest.mark.parametrize("score", [-1, 5.5, "nan", "high"])
def test_bad_scores_are_refused(store: LabelStore, score: object) -> None:
    with pytest.raises(GalmorphError, match="score"):
        store.label("G1", score)  # type: ignore[arg-type]
    assert store.labels() == {}


def test_unknown_galaxy_is_refused_and_nothing_is_written(store: LabelStore) -> None:
    with pytest.raises(GalmorphError, match="no galaxy with id 'X'"):
        store.label("X", 3)
    assert store.history() == []


def test_label_many_stores_all_or_nothing(store: LabelStore) -> None:
    store.label("G1", 1)
    with pytest.raises(GalmorphError, match=r"no galaxy with id 'X', 'Y' in .* \(nothing was "
                                            r"stored\)"):
        store.label_many([("G1", 3), ("X", 4), ("G2", 5), ("Y", 0)])
    with pytest.raises(GalmorphError, match="'G2' is given more than once.*nothing was stored"):
        store.label_many([("G2", 3), ("G3", 4), ("G2", 5)])
    with pytest.raises(GalmorphError, match="score"):
        store.label_many([("G2", 3), ("G3", 9)])
    assert store.labels() == {"G1": 1.0} and len(store.history()) == 1
    records = store.label_many([("G1", 3), ("G2", 4)], source="file labels.csv")
    assert [(r.galaxy_id, r.score, r.previous, r.source) for r in records] == [
        ("G1", 3.0, 1.0, "file labels.csv"), ("G2", 4.0, None, "file labels.csv")]
    assert store.unknown_ids(["G3", "nope", "G39"]) == ["nope"]


def test_a_failed_overwrite_keeps_the_old_session(store: LabelStore,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store.label("G1", 3)
    store.close()

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("galmorph.anomaly.labels.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        LabelStore.create(store.path, {}, IDS[:2], overwrite=True)
    with LabelStore.open(store.path) as old:
        assert old.labels() == {"G1": 3.0} and old.n_galaxies() == 40
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["s.db"]


def test_create_refuses_an_existing_file_unless_asked(store: LabelStore) -> None:
    store.label("G1", 3)
    with pytest.raises(GalmorphError, match=r"already exists: .*overwrite=True \(--force\)"):
        LabelStore.create(store.path, {}, IDS)
    store.close()  # an open session is not replaced: see the tests below
    with LabelStore.create(store.path, {"x": 1}, IDS[:2], overwrite=True) as fresh:
        assert fresh.labels() == {} and fresh.n_galaxies() == 2 and fresh.settings() == {"x": 1}


# ------------------------------------------- a session replaced while open
HOLDER = textwrap.dedent("""
    import sys, time
    from galmorph.anomaly.labels import LabelStore

    store = LabelStore.open(sys.argv[1])  # as `galmorph serve --session` keeps it
    print("open", flush=True)
    time.sleep(60)
""")


def test_start_force_refuses_a_session_open_elsewhere_until_it_is_closed(
        store: LabelStore, tmp_path: Path) -> None:
    store.label("G1", 3)
    in_use = r"s.db is open in another program .*stop it first.*\(nothing was changed\)"
    with pytest.raises(GalmorphError, match=in_use) as caught:  # open in this process
        LabelStore.create(store.path, {}, IDS[:2], overwrite=True)
    assert "In Python (e.g. an earlier notebook cell), call .close()" in str(caught.value)
    store.close()
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(store.path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(GalmorphError, match=in_use):  # open in another process
            LabelStore.create(store.path, {}, IDS[:2], overwrite=True)
        with LabelStore.open(store.path) as old:
            assert old.labels() == {"G1": 3.0} and old.n_galaxies() == 40
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash leaves no lock behind
        holder.wait(10)
    with LabelStore.create(store.path, {}, IDS[:2], overwrite=True) as fresh:
        assert fresh.labels() == {} and fresh.n_galaxies() == 2
    assert not list(tmp_path.glob(".s.db.*"))


def _replace(path: Path, ids: list[str]) -> None:
    """Put a new session file at ``path`` without asking who has it open (as `start --force`
    did before it asked)."""
    LabelStore.create(path.with_name("new.db"), {}, ids).close()
    remove_sidecars(path)
    os.replace(path.with_name("new.db"), path)


def test_a_store_whose_file_was_replaced_refuses_to_use_it(store: LabelStore) -> None:
    store.label("G1", 3)
    _replace(store.path, IDS[:2])
    replaced = r"s.db was replaced or deleted after this program opened it .*nothing was stored"
    for use in (lambda: store.label("G1", 4), store.labels, store.galaxies,
                lambda: store.log_event("rank")):
        with pytest.raises(GalmorphError, match=replaced):
            use()
    with LabelStore.open(store.path) as fresh:
        assert fresh.labels() == {} and fresh.history() == []
    store.path.unlink()
    with pytest.raises(GalmorphError, match=replaced):
        store.label("G2", 1)


@pytest.mark.parametrize("write", [lambda store: store.label("G2", 5),
                                   lambda store: store.record_batch(["G3"], "active")],
                         ids=["label", "batch"])
def test_a_store_notices_a_replacement_made_while_it_waited_to_write(
        store: LabelStore, write: Callable[[LabelStore], object]) -> None:
    holder = LabelStore.open(store.path)
    outcome: list[BaseException | None] = []

    def wait_and_write() -> None:
        try:
            write(store)  # waits for the holder's transaction
            outcome.append(None)
        except GalmorphError as err:
            outcome.append(err)

    with holder._write():
        waiting = threading.Thread(target=wait_and_write)
        waiting.start()
        time.sleep(0.5)
        _replace(store.path, IDS[:2])
    waiting.join(30)
    holder.close()
    assert isinstance(outcome[0], GalmorphError) and "was replaced" in str(outcome[0])
    with LabelStore.open(store.path) as fresh:
        assert fresh.labels() == {} and fresh.n_batches() == 0


def test_non_session_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_text("not a database at all" * 100)
    with pytest.raises(GalmorphError, match="session"):
        LabelStore.open(tmp_path / "junk.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(GalmorphError, match="not a galmorph anomaly session"):
        LabelStore.open(tmp_path / "other.db")
    with pytest.raises(GalmorphError, match="does not exist"):
        LabelStore.open(tmp_path / "missing.db")


def test_wal_mode_and_full_sync(store: LabelStore) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_settings_galaxy_values_batches_and_events(store: LabelStore) -> None:
    store.update_settings({"xi": 0.1})
    assert store.settings() == {"batch_size": 10, "xi": 0.1}
    store.set_galaxy_values({"artefact": np.arange(40) % 2 == 0,
                             "isolation_forest": np.linspace(0, 1, 40)})
    galaxies = store.galaxies()
    assert galaxies["artefact"].tolist()[:3] == [True, False, True]
    assert galaxies["isolation_forest"].iloc[-1] == 1.0 and galaxies["lof"].isna().all()
    with pytest.raises(GalmorphError, match="values for 40"):
        store.set_galaxy_values({"lof": np.zeros(3)})
    assert store.latest_batch() is None
    store.label("G0", 1)
    values = pd.DataFrame({"acquisition": [0.5, 0.25], "predicted": [3.0, 2.0]})
    store.record_batch(["G7", "G8"], "active", values, {"how": "test"})
    batch = store.latest_batch()
    assert batch is not None
    assert (batch.ids, batch.method, batch.n_labels, batch.details) == (
        ["G7", "G8"], "active", 1, {"how": "test"})
    assert batch.values["acquisition"].tolist() == [0.5, 0.25]
    assert batch.values["std"].isna().all()
    assert [kind for _, kind, _ in store.events()] == ["start", "settings"]


def test_concurrent_writers_lose_nothing(store: LabelStore) -> None:
    def write(offset: int) -> None:
        with LabelStore.open(store.path) as own:
            for i in range(offset, 40, 4):
                own.label(f"G{i}", i % 6)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(store.labels().items()) == sorted((f"G{i}", float(i % 6)) for i in range(40))


# ----------------------------------------------------------- the kill test
CHILD = textwrap.dedent("""
    import sys, time
    from galmorph.anomaly.labels import LabelStore

    path, first, commit_delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    store = LabelStore.open(path)
    if commit_delay:  # sleep as COMMIT starts: a kill then lands inside the commit
        store._conn.set_trace_callback(
            lambda sql: time.sleep(commit_delay) if sql == "COMMIT" else None)
    i = first
    while True:
        galaxy, score = f"G{(i * 7) % 40}", float((i * 5) % 6)
        print(f"SEND {i} {galaxy} {score}", flush=True)
        store.label(galaxy, score)
        print(f"ACK {i} {galaxy} {score}", flush=True)
        i += 1
""")


def _run_and_kill(script: Path, db: Path, first: int, commit_delay: float,
                  wait_s: float) -> list[list[str]]:
    """Start the labelling child, SIGKILL it ``wait_s`` after its first ACK (or mid-commit)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, str(script), str(db), str(first), str(commit_delay)],
                             stdout=subprocess.PIPE, text=True, env=env)
    lines: list[list[str]] = []
    first_ack = threading.Event()
    committing = threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.split())
            if lines[-1][0] == "ACK":
                first_ack.set()
            elif first_ack.is_set():
                committing.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first_ack.wait(60), "the child never acknowledged a label"
    if commit_delay:
        assert committing.wait(10)
        time.sleep(wait_s)  # well inside the child's sleep within COMMIT
    else:
        time.sleep(wait_s)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    reader.join(10)
    assert child.returncode == -signal.SIGKILL
    return lines


def test_sigkill_at_any_moment_loses_no_acknowledged_label(tmp_path: Path) -> None:
    LabelStore.create(tmp_path / "s.db", {}, IDS).close()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    rng = random.Random(6)
    # (commit delay, wait): plain runs killed at random moments, and runs killed mid-commit
    plan = [(0.0, rng.uniform(0.0, 0.3)) for _ in range(4)] + [(0.6, rng.uniform(0.05, 0.3))
                                                                 for _ in range(2)]
    rng.shuffle(plan)
    runs: list[list[list[str]]] = []
    sent = 0
    for delay, wait in plan:
        lines = _run_and_kill(script, tmp_path / "s.db", sent, delay, wait)
        runs.append(lines)
        sent += sum(1 for line in lines if line[0] == "SEND")
    with LabelStore.open(tmp_path / "s.db") as store:
        history = [(r.galaxy_id, r.score) for r in store.history()]
        stored = store.labels()
    # history must be, run by run, a prefix of what was sent that covers every ACK
    position = 0
    expected: dict[str, float] = {}
    for lines in runs:
        sends = [(g, float(s)) for kind, _, g, s in lines if kind == "SEND"]
        acks = sum(1 for line in lines if line[0] == "ACK")
        committed = 0
        while (committed < len(sends) and position < len(history)
               and history[position] == sends[committed]):
            committed, position = committed + 1, position + 1
        assert committed >= acks, "an acknowledged label was lost"
        assert committed <= acks + 1, "a label appeared that was not in flight"
        for galaxy, score in sends[:committed]:
            expected[galaxy] = score
    assert position == len(history), "the history holds labels that were never sent"
    assert stored == expected
    assert sum(1 for lines in runs for line in lines if line[0] == "ACK") >= len(runs)
