"""Records of a model's training galaxies (galmorph.data.id_sets)."""

from __future__ import annotations

import base64

import numpy as np

from galmorph.data.id_sets import ID_HASH_SCHEME, contains_ids, encode_ids, seen_ids


def test_recorded_ids_are_recognised_and_others_are_not():
    recorded = [f"J{i:06d}+0000" for i in range(2000)]
    others = [f"J{i:06d}+0001" for i in range(20000)]
    record = encode_ids(recorded)
    assert len(base64.b64decode(record)) == 4 * 2000  # 4 bytes per galaxy
    assert contains_ids(record, recorded).all()
    assert not contains_ids(record, others).any()


def test_ids_are_compared_as_text_and_repeats_are_stored_once():
    assert encode_ids(["J1", "J1", "J2"]) == encode_ids(["J2", "J1"])
    assert contains_ids(encode_ids([123]), ["123", "0123"]).tolist() == [True, False]


def test_seen_ids_joins_training_and_validation_and_needs_a_known_scheme():
    split = {"id_hashes": {"scheme": ID_HASH_SCHEME, "train": encode_ids(["a", "b"]),
                           "val": encode_ids(["c"])}}
    assert seen_ids(split, ["a", "c", "d"]).tolist() == [True, True, False]
    assert seen_ids({}, ["a"]) is None  # a model made before ids were recorded
    assert seen_ids({"id_hashes": {**split["id_hashes"], "scheme": "md5-32"}}, ["a"]) is None
    assert seen_ids(split, np.array([], dtype=object)).shape == (0,)
