"""Readable names for hashed feature columns: what a word or character n-gram column stands for.

The hashed blocks keep no vocabulary, so a column is named from text: a scored report's own words
(``TextColumns``), or the training corpus's most frequent n-gram or word where no report is at hand
(``feature_names``); a declared numeric or categorical column by its name and levels (``tabular_feature_names``).
The hashing itself is features.py's and tabular_features.py's; this module only hashes again to find names.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from sklearn.feature_extraction import FeatureHasher
from sklearn.utils import murmurhash3_32

from gxp_assets.core.features import (
    DEFAULT_FEATURE_SPEC,
    SENTENCE_TERM,
    FeatureSpec,
    char_wb_ngrams,
    hashing_vectorizer,
)


def ngram_column(gram: str, width: int) -> int:
    """The column (within its block) that HashingVectorizer puts ``gram`` in: |murmurhash3_32(utf-8)| mod width.

    Python's ``abs`` of -2**31 is 2**31, which is what sklearn's special case for that hash computes too.
    """
    return abs(murmurhash3_32(gram, seed=0)) % width


class TextColumns:
    """Which words of one text produced which hashed columns, for the columns asked about only.

    Word-block columns are named by the text's own word n-grams that hash to them. A character n-gram (char_wb)
    lies inside one whitespace-separated word, so its column is credited to that word's tokens the n-gram overlaps
    (the word itself, stripped of punctuation, when it overlaps none, as in "a"). Hashes are cached per n-gram and
    per word, so a batch hashes each distinct word once. A scorer keeps one for its whole run, so each cache is
    emptied when it reaches MAX_CACHED entries: a process serving for weeks meets ever new words and n-grams. A word's
    entry grows with the model's char columns it holds (some 170 bytes each, measured), so the word cache is also
    emptied when it holds MAX_CACHED_CREDITS of them: a model reading most n-grams, on a batch of many distinct words
    (real posts: misspellings, names, tags), would otherwise keep hundreds of MB.
    """

    MAX_CACHED = 200_000  # per cache; an n-gram's entry is some 100-150 bytes
    MAX_CACHED_CREDITS = 500_000  # (word, column) credits in the word cache: some 85 MB

    def __init__(self, spec: FeatureSpec, char_columns: Iterable[int] = ()) -> None:
        self.spec = spec
        self.char_offset = spec.word_buckets
        self.char_columns = set(char_columns)  # feature-matrix columns of the char block worth looking for
        self._analyze_words = hashing_vectorizer(spec, "word").build_analyzer()
        self._token = re.compile(hashing_vectorizer(spec, "word").token_pattern)
        self._gram_columns: dict[str, int] = {}
        self._word_columns: dict[str, dict[int, tuple[str, ...]]] = {}
        self._credits_cached = 0

    def word_ngrams(self, text: str) -> list[tuple[str, int]]:
        """Each word n-gram of ``text`` (as the vectorizer makes them) with its feature-matrix column."""
        columns = self._gram_columns
        found = []
        for gram in self._analyze_words(text):
            column = columns.get(gram)
            if column is None:
                if len(columns) >= self.MAX_CACHED:
                    columns.clear()
                column = columns[gram] = ngram_column(gram, self.spec.word_buckets)
            found.append((gram, column))
        return found

    def char_credits(self, word: str) -> dict[int, tuple[str, ...]]:
        """For one lower-cased whitespace-separated word: each wanted char column it holds -> the terms credited.

        A mapping, so that an explanation looks up the few columns a report's trees moved (2-3 per report on the
        demo batches) instead of walking every wanted column its words hold (17 per word there, some 100 per report)."""
        cached = self._word_columns.get(word)
        if cached is None:
            cached = self._char_credits(word)
            full = len(self._word_columns) >= self.MAX_CACHED
            if full or self._credits_cached + len(cached) > self.MAX_CACHED_CREDITS:
                self._word_columns.clear()
                self._credits_cached = 0
            self._word_columns[word] = cached
            self._credits_cached += len(cached)
        return cached

    def _char_credits(self, word: str) -> dict[int, tuple[str, ...]]:
        padded = f" {word} "
        tokens = [(match.start(), match.end(), match.group()) for match in self._token.finditer(padded)]
        fallback = (word.strip(string.punctuation) or word,)
        credits: dict[int, list[str]] = {}
        for start, gram in char_wb_ngrams(padded, self.spec.char_ngrams):
            column = self.char_offset + ngram_column(gram, self.spec.char_buckets)
            if column not in self.char_columns:
                continue
            end = start + len(gram)
            overlapping = [token for first, last, token in tokens if first < end and start < last] or fallback
            held = credits.setdefault(column, [])
            held.extend(term for term in overlapping if term not in held)
        return {column: tuple(terms) for column, terms in credits.items()}


def feature_names(texts: Iterable[str], spec: FeatureSpec = DEFAULT_FEATURE_SPEC) -> dict[int, str]:
    """Readable names for hashed columns from training text: words and word n-grams, never character n-grams.

    A word column is named by its most frequent training n-gram; a character column by the most frequent training
    word holding one of its n-grams (so the columns of "after", "aft" and "fte" are all named "after"). Used where a
    report's own text is not at hand (global importance, the evaluation's examples); a scored report is named from
    its own words (``TextColumns``).
    """
    names: dict[int, str] = {}
    offset = 0
    texts = list(texts)
    for block, width in spec.blocks():
        if block == "word":
            analyzer = hashing_vectorizer(spec, block).build_analyzer()
            seen: Counter[str] = Counter()
            for text in texts:
                seen.update(analyzer(text))
            for gram in sorted(seen, key=lambda gram: (-seen[gram], gram)):
                names.setdefault(offset + ngram_column(gram, width), gram)
        elif block == "char":
            words: Counter[str] = Counter(word for text in texts for word in text.lower().split())
            credited: Counter[tuple[int, str]] = Counter()
            columns = TextColumns(spec, range(offset, offset + width))
            for word, count in words.items():
                for column, terms in columns.char_credits(word).items():
                    credited.update({(column, term): count for term in terms})
            for column, term in sorted(credited, key=lambda key: (-credited[key], key)):
                names.setdefault(column, term)
        elif block == "sentence":
            names.update({column: SENTENCE_TERM for column in range(offset, offset + width)})
        elif block.startswith("num:"):
            names[offset] = block
        offset += width
    return names


def tabular_feature_names(spec: FeatureSpec, levels: Mapping[str, Sequence[str]]) -> dict[int, str]:
    """Readable names for a spec's numeric and categorical columns: a numeric column by its declared name, a hashed
    categorical bucket by the ``column=level`` tokens of the declared ``levels`` that land in it (two that share a
    bucket are both named, "a=x | b=y", since the model cannot tell them apart). Text blocks are ``feature_names``'."""
    hasher = FeatureHasher(n_features=spec.categorical_buckets, input_type="string", alternate_sign=False)
    names: dict[int, str] = {}
    offset = 0
    for block, width in spec.blocks():
        if block.startswith("num:"):
            names[offset] = block.removeprefix("num:")
        elif block == "cat":
            tokens = [f"{column}={level}" for column in spec.categorical_columns for level in levels.get(column, ())]
            buckets: dict[int, list[str]] = {}
            for token in tokens:  # (the hasher, as tabular_parts uses it, puts one token in one bucket)
                buckets.setdefault(offset + int(hasher.transform([[token]]).indices[0]), []).append(token)
            names.update({column: " | ".join(held) for column, held in buckets.items()})
        offset += width
    return names
