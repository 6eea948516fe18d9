"""The compact cross-chunk memory of the streamed validator: lookups, inserts and read-back are exact."""

from __future__ import annotations

import numpy as np

from gxp_assets.core.seen_records import Candidates, DigestTable, Places, Strings, digest


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
        table.add_rows(np.array(list(rows), dtype="S16"), np.array(list(rows.values())))
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
    more = strings.extend(values[::-1])  # in bulk, numbered on from the last one
    assert more.tolist() == list(range(len(values), 2 * len(values)))
    assert [strings.get(number) for number in [*numbers, *more.tolist()]] == values + values[::-1]
    where = [places.place("a.csv", 2), places.place("b.csv", 7), places.place("a.csv", 2**39)]
    assert [places.text(place) for place in where] == ["a.csv:2", "b.csv:7", f"a.csv:{2**39}"]


def test_digest_is_sixteen_bytes_and_tells_texts_apart() -> None:
    assert len(digest("x")) == 16 and digest("x") != digest("y") and digest("lone \udc80") == digest("lone \udc80")


def test_places_of_a_chunk_number_files_as_one_at_a_time_would() -> None:
    one_by_one, together = Places(), Places()
    earlier = [one_by_one.place("b.csv", 1), together.place("b.csv", 1)]
    files, lines = ["c.csv", "a.csv", "b.csv", "c.csv"], [4, 9, 2, 5]
    expected = [one_by_one.place(file, line) for file, line in zip(files, lines, strict=True)]
    assert together.places(files, lines) == expected and earlier[0] == earlier[1]
    assert [together.text(place) for place in expected] == ["c.csv:4", "a.csv:9", "b.csv:2", "c.csv:5"]


def test_candidates_survive_the_trip_through_a_frame() -> None:
    found = Candidates([3, 5], ["r-3", "r-5"], [digest("r-3"), digest("r-5")], [digest("t"), digest("u")],
                       [1, None], ["a.csv", "a.csv"], [4, 6])  # fmt: skip
    assert Candidates.from_frame(found.to_frame()) == found
    assert Candidates.from_frame(Candidates([], [], [], [], [], [], []).to_frame()).seqs == []
