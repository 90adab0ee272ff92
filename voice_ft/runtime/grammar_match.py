"""How far a transcript is from being a sentence of a grammar: word edits to the nearest saying, TF-free.

A speech-to-intent model for a closed grammar must say "I didn't understand" to what the grammar does
not hold. Its recogniser writes only the grammar's tokens, so "add this song to my playlist" comes out
as grammar words ("play the thermostat") that the NLU parses with confidence: the NLU's own rejection
cannot see it. The grammar can. Each intent's expressions are compiled, on the training side
(`voice_ft.speech_to_intent.grammar_values.grammar_automata`), into one word automaton (states
numbered so that every edge goes forward, as a grammar has no loops):

    {"states": 57, "finals": [12, 56], "edges": [[0, "turn", 1], [1, null, 4], ...]}

An edge carries a normalised word (`voice_ft.runtime.words.normalize_words`) or null (nothing said:
an optional part skipped, the end of an alternative). `GrammarAutomaton.distance(words)` is the
fewest word substitutions, insertions and deletions that turn `words` into a saying of the automaton
(the Levenshtein distance to a regular language: one pass over the words, each relaxing the edges in
state order). 0 means the transcript is a sentence of the grammar; `SpeechToIntent` accepts up to
`max_grammar_edits` (default 1: a recogniser that drops or swaps one small word, "play music on
office speakers", is still understood).
"""

from __future__ import annotations

from collections.abc import Sequence

INFINITE = 1 << 30


class GrammarAutomaton:
    """One intent's expressions as a forward word automaton (start state 0); see the module docstring."""

    def __init__(self, states: int, finals: Sequence[int], edges: Sequence[Sequence]):
        """Args:
            states: the number of states.
            finals: the states a saying may end in.
            edges: `(from, word or None, to)` with `from < to`.

        Raises:
            ValueError: a state out of range, an edge going backwards, a word that is not a string.
        """
        self.states = int(states)
        self.finals = sorted({int(f) for f in finals})
        self.edges = sorted(((int(u), w, int(v)) for u, w, v in edges), key=lambda e: (e[0], e[2]))
        if self.states < 1 or not self.finals or not all(0 <= f < self.states for f in self.finals):
            raise ValueError(f"grammar automaton: {self.states} states, finals {self.finals[:5]}: out of range.")
        for u, w, v in self.edges:
            if not 0 <= u < v < self.states or not (w is None or isinstance(w, str)):
                raise ValueError(f"grammar automaton: edge {[u, w, v]} must go forward between states 0..{self.states - 1} "
                                 "with a word (string) or null.")  # fmt: skip

    @classmethod
    def from_dict(cls, content: dict) -> GrammarAutomaton:
        """From the JSON form `{"states", "finals", "edges"}`."""
        return cls(content["states"], content["finals"], content["edges"])

    def to_dict(self) -> dict:
        return {"states": self.states, "finals": self.finals, "edges": [list(e) for e in self.edges]}

    def _relax_skips(self, cost: list[int]) -> list[int]:
        """In place: reaching a state over an edge without reading a word (null: free; a word: one insertion)."""
        for u, w, v in self.edges:
            through = cost[u] + (0 if w is None else 1)
            if through < cost[v]:
                cost[v] = through
        return cost

    def distance(self, words: Sequence[str]) -> int:
        """The fewest word edits that make `words` a saying of the automaton."""
        cost = [INFINITE] * self.states
        cost[0] = 0
        self._relax_skips(cost)
        for word in words:
            after = [c + 1 for c in cost]  # the transcript's word deleted
            for u, w, v in self.edges:
                if w is not None:
                    through = cost[u] + (0 if w == word else 1)  # matched, or substituted
                    if through < after[v]:
                        after[v] = through
            cost = self._relax_skips(after)
        return min(cost[f] for f in self.finals)
