"""`Generator`: TF-free response generation from a decoder `.tflite` with KV-cache signatures.

Reads the sidecar `<stem>.json` written by `voice_ft.response.export.export_decoder` (tokenizer
files, start/stop tokens, cache size, prompt template), then runs the loop keras-hub's
`generate` runs: `prefill` the right-padded prompt, `decode` the last prompt token at
`len(prompt) - 1`, sample, feed the sample back, until a stop token, `max_new_tokens`, or the
end of the cache. Samplers: greedy, top-k and top-p (with temperature), in numpy.

`BPETokenizer` is a byte-level BPE (GPT-2, SmolLM2) tokenizer in pure Python: special tokens
are split out first, the rest is pre-split with GPT-2's regex (written for the standard `re`
module: `\\p{L}` as `[^\\W\\d_]`, `\\p{N}` as `\\d`), mapped to GPT-2's byte alphabet and merged
by rank. It matches keras-hub's `BytePairTokenizer` on single-spaced text (prompt templates
collapse whitespace; keras-hub splits runs of spaces differently from GPT-2).

Only numpy and ai_edge_litert are imported (plus the pure-Python prompt template): no TensorFlow.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from voice_ft.runtime.prompt_template import PromptTemplate  # pure Python, imports nothing heavy
from voice_ft.runtime.sidecar import companion_file

_PRETOKEN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class BPETokenizer:
    """Byte-level BPE tokenizer (GPT-2 / SmolLM2 vocabularies), pure Python.

    Args:
        vocabulary: token -> id.
        merges: "a b" merge rules, highest priority first.
        special_tokens: tokens matched verbatim before BPE (e.g. "<|im_start|>").
    """

    def __init__(self, vocabulary: Mapping[str, int], merges: Sequence[str], special_tokens: Sequence[str] = ()):
        self.vocabulary = dict(vocabulary)
        self.id_to_token = {i: t for t, i in self.vocabulary.items()}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(m for m in merges if m and not m.startswith("#version"))}
        self.special_tokens = [t for t in special_tokens if t in self.vocabulary]
        pattern = "|".join(re.escape(t) for t in sorted(self.special_tokens, key=len, reverse=True))
        self._special = re.compile(f"({pattern})") if pattern else None
        self._byte_map = bytes_to_unicode()
        self._unbyte = {c: b for b, c in self._byte_map.items()}
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_files(cls, vocabulary_path, merges_path, special_tokens: Sequence[str] = ()) -> "BPETokenizer":
        vocabulary = json.loads(pathlib.Path(vocabulary_path).read_text(encoding="utf-8"))
        merges = pathlib.Path(merges_path).read_text(encoding="utf-8").splitlines()
        return cls(vocabulary, merges, special_tokens)

    def _bpe(self, word: str) -> list[int]:
        if word in self._cache:
            return self._cache[word]
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            ranked = [(r, i) for r, i in pairs if r is not None]
            if not ranked:
                break
            rank = min(ranked)[0]
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and self.ranks.get((parts[i], parts[i + 1])) == rank:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self.vocabulary[p] for p in parts if p in self.vocabulary]
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Text -> token ids (special tokens kept whole)."""
        chunks = self._special.split(text) if self._special else [text]
        ids: list[int] = []
        for chunk in chunks:
            if not chunk:
                continue
            if chunk in self.special_tokens:
                ids.append(self.vocabulary[chunk])
                continue
            for piece in _PRETOKEN.findall(chunk):
                ids.extend(self._bpe("".join(self._byte_map[b] for b in piece.encode("utf-8"))))
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> text (invalid UTF-8 replaced)."""
        text = "".join(self.id_to_token.get(int(i), "") for i in ids)
        data = bytes(self._unbyte[c] for c in text if c in self._unbyte)
        return data.decode("utf-8", errors="replace")


def sample_next(logits: np.ndarray, sampler: str = "greedy", k: int = 50, p: float = 0.9, temperature: float = 1.0,
                rng: np.random.Generator | None = None) -> int:
    """Picks the next token id from a logits vector: "greedy", "top_k" or "top_p"."""
    logits = np.asarray(logits, np.float64).reshape(-1)
    if sampler == "greedy":
        return int(np.argmax(logits))
    rng = rng or np.random.default_rng()
    scaled = logits / max(temperature, 1e-6)
    if sampler == "top_k":
        top = np.argpartition(-scaled, min(k, scaled.size) - 1)[:k]
        probs = np.exp(scaled[top] - scaled[top].max())
        return int(top[rng.choice(top.size, p=probs / probs.sum())])
    if sampler == "top_p":
        order = np.argsort(-scaled)
        probs = np.exp(scaled[order] - scaled[order[0]])
        probs /= probs.sum()
        keep = int(np.searchsorted(np.cumsum(probs), p) + 1)  # smallest prefix with mass >= p
        kept = probs[:keep] / probs[:keep].sum()
        return int(order[rng.choice(keep, p=kept)])
    raise ValueError(f"Unknown sampler {sampler!r}; use 'greedy', 'top_k' or 'top_p'.")


class Generator:
    """Runs an exported decoder `.tflite` (prefill + decode signatures) without TensorFlow.

    Args:
        tflite_path: the `.tflite` file; its sidecar `<stem>.json` must sit beside it.
        num_threads: CPU threads for the interpreter.

    Example:
        >>> gen = Generator("out/smollm2.tflite", num_threads=2)
        >>> gen.respond([("user", "Book a table for two tonight.")], intent="ReserveRestaurant")
        'What time would you like the reservation for?'
    """

    def __init__(self, tflite_path: str | os.PathLike, num_threads: int = 1):
        self.path = pathlib.Path(tflite_path)
        sidecar = self.path.with_suffix(".json")
        if not self.path.is_file():
            raise FileNotFoundError(f"Decoder model not found: {self.path}")
        if not sidecar.is_file():
            raise FileNotFoundError(f"Sidecar {sidecar} not found; export with voice_ft.response.export.export_decoder.")
        self.metadata = json.loads(sidecar.read_text(encoding="utf-8"))
        if self.metadata.get("task") != "response_generation":
            raise ValueError(f"{sidecar} is not a response-generation sidecar (task={self.metadata.get('task')!r}).")
        tok = self.metadata["tokenizer"]
        self.tokenizer = BPETokenizer.from_files(
            companion_file(sidecar, tok.get("vocabulary"), "tokenizer.vocabulary"),
            companion_file(sidecar, tok.get("merges"), "tokenizer.merges"),
            tok.get("special_tokens", ()),
        )
        self.template = PromptTemplate(**self.metadata["template"])
        self.stop_token_ids = tuple(self.metadata["stop_token_ids"])
        self.start_token_id = self.metadata.get("start_token_id")
        self.prefill_length = int(self.metadata["prefill_length"])
        self.cache_length = int(self.metadata["cache_length"])
        self.pad_token_id = int(self.metadata.get("pad_token_id", 0))
        self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        signatures = self._interpreter.get_signature_list()
        if not {"prefill", "decode"} <= set(signatures):
            raise ValueError(f"{self.path} lacks the prefill/decode signatures (has {sorted(signatures)}).")
        self._prefill = self._interpreter.get_signature_runner("prefill")
        self._decode = self._interpreter.get_signature_runner("decode")
        self.prompts_truncated = 0

    def encode_prompt(self, prompt: str) -> list[int]:
        """Prompt text -> ids with the start token, cut from the left to fit `prefill_length`."""
        start = [self.start_token_id] if self.start_token_id is not None else []
        ids = self.tokenizer.encode(prompt)
        room = self.prefill_length - len(start)
        if len(ids) > room:
            self.prompts_truncated += 1
            ids = ids[len(ids) - room :]
        return start + ids

    def generate_ids(self, prompt_ids: Sequence[int], max_new_tokens: int = 48, sampler: str = "greedy",
                     stop_token_ids: Sequence[int] | None = None, seed: int | None = None, **sampler_options) -> list[int]:
        """Generates new ids after `prompt_ids` (the stop token included when produced)."""
        prompt_ids = list(prompt_ids)
        if not 1 <= len(prompt_ids) <= self.prefill_length:
            raise ValueError(f"Prompt has {len(prompt_ids)} tokens; this file takes 1 to {self.prefill_length}.")
        stops = set(self.stop_token_ids if stop_token_ids is None else stop_token_ids)
        rng = np.random.default_rng(seed)
        padded = np.full((1, self.prefill_length), self.pad_token_id, np.int32)
        padded[0, : len(prompt_ids)] = prompt_ids
        cache = self._prefill(token_ids=padded)["cache"]
        token, index, new = prompt_ids[-1], len(prompt_ids) - 1, []
        while len(new) < max_new_tokens and index < self.cache_length:
            out = self._decode(token_id=np.array([[token]], np.int32), cache=cache, index=np.array(index, np.int32))
            cache = out["cache"]
            token = sample_next(out["logits"][0], sampler, rng=rng, **sampler_options)
            new.append(token)
            index += 1
            if token in stops:
                break
        return new

    def generate(self, prompt: str, max_new_tokens: int = 48, sampler: str = "greedy", **options) -> str:
        """Templated prompt text -> response text (stop tokens removed)."""
        ids = self.generate_ids(self.encode_prompt(prompt), max_new_tokens, sampler, **options)
        return self.tokenizer.decode([t for t in ids if t not in self.stop_token_ids]).strip()

    def respond(self, context, intent: str | None = None, slots: Mapping[str, str] | None = None, **options) -> str:
        """Dialogue context (and parsed intent/slots) -> the assistant's response."""
        return self.generate(self.template.format(context, intent=intent, slots=slots), **options)
