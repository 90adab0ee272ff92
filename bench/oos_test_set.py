"""The held-out out-of-scope test sentences of the OOS benchmarks (`oos.py`, `nlu_oos.py`), shared.

Disjoint from the training negatives by construction (those come from the *train* splits of SGD and
GoEmotions, `voice_ft.generate_negatives`): sentences from the *test* splits of SGD (user turns of
dialogues none of whose services overlap SNIPS's intents: Restaurants, Weather, Music, Media, Movies
and Events dialogues are left out, since a request there may be in scope) and GoEmotions, plus
BANKING77 test queries (a domain no negative comes from); any sentence in `exclude` (lower-cased,
whitespace collapsed: SNIPS sentences, training negatives) is dropped. A seeded sample of `count`
sentences, a third from each source.
"""

from __future__ import annotations

import json

import numpy as np

from voice_ft.data.bundled import data_root
from voice_ft.data.negatives import normalise, source_sentences

SNIPS_SERVICES = ("Restaurants", "Weather", "Music", "Media", "Movies", "Events")


def held_out_oos(exclude: set[str], count: int, seed: int) -> dict[str, list[str]]:
    """The OOS test sentences per source (see the module doc), none of them in `exclude`."""
    sgd = []
    for line in (data_root() / "sgd_dialogues" / "test.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if any(s.startswith(SNIPS_SERVICES) for s in row["services"]):
            continue
        sgd.extend(t["text"] for t in row["turns"] if t["speaker"] == "user" and len(t["text"].split()) >= 2)
    banking = [json.loads(line)["text"] for line in (data_root() / "banking77" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    pools = {"sgd_dialogues": sgd, "goemotions": source_sentences("goemotions", "test"), "banking77": banking}
    rng = np.random.default_rng(seed)
    chosen = {}
    for name, pool in pools.items():
        pool = list(dict.fromkeys(t.strip() for t in pool if normalise(t) not in exclude))
        chosen[name] = [pool[i] for i in rng.permutation(len(pool))[: count // len(pools)]]
    return chosen
