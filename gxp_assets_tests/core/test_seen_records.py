"""The compact cross-chunk memory of the streamed validator: lookups, inserts and read-back are exact."""

from __future__ import annotations

import numpy as np

from gxp_assets.core.seen_records import DigestTable, Places, Strings, digest


def test_digest_table_finds_every_added_key_and_nothing_else() -> None:
    table = DigestTable(["place"])
    rng = np.random.default_rng(3)
    added: dict[bytes, int] = {}
    for chunk in range(5):
        keys = [rng.bytes(16) for _ in range(200)]
        # Keys that differ only in trailing zero bytes must stay distinct (numpy's S dtype pads with zeros).
        keys += [b"\x01" * 15 + b"\x00", b"\x01" * 14 + b"\x00\x00", b"\x00" * 16] if chunk == 0 else []
        rows = {key: (chunk * 1000 + index,) for index, key in enumerate(keys)}
        assert (table.slots(list(rows)) == -1).all()
        table.add(rows)
        added.update({key: value[0] for key, value in rows.items()})
    slots = table.slots(list(added))
    assert (slots >= 0).all()
    assert table.columns["place"][slots].tolist() == list(added.values())
    assert (table.slots([rng.bytes(16) for _ in range(50)]) == -1).all()
    assert list(table.keys) == sorted(table.keys)


def test_strings_and_places_read_back_what_was_stored() -> None:
    strings, places = Strings(), Places()
    values = ["r-1", "", "caf\u00e9 \U0001f48a", "lone \udc80 surrogate", "r-1"]
    numbers = [strings.add(value) for value in values]
    assert [strings.get(number) for number in numbers] == values
    where = [places.place("a.csv", 2), places.place("b.csv", 7), places.place("a.csv", 2**39)]
    assert [places.text(place) for place in where] == ["a.csv:2", "b.csv:7", f"a.csv:{2**39}"]


def test_digest_is_sixteen_bytes_and_tells_texts_apart() -> None:
    assert len(digest("x")) == 16 and digest("x") != digest("y") and digest("lone \udc80") == digest("lone \udc80")
