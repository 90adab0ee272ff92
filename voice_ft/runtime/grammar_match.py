"""How far a transcript is from being a sentence of a grammar: word edits to the nearest saying, TF-free.

A speech-to-intent model for a closed grammar must say "I didn't understand" to what the grammar does
not hold. Its recogniser writes only the grammar's tokens, so "add this song to my playlist" comes out
as grammar words ("play the thermostat") that the NLU parses with confidence: the NLU's own rejection
cannot see it. The grammar can. Each intent's expressions are compiled, on the training side
(`voice_ft.speech_to_intent.grammar_values.grammar_automata`), into one word automaton (states
numbered so that every edge goes forward, as a grammar has no loops):

    {"states": 57, "finals": [12, 56], "tagged": true, "edges": [[0, "turn", 1], [1, null, 4], [4, "bedroom", 5, "B-location"], ...]}

An edge carries a normalised word (`voice_ft.runtime.words.normalize_words`) or null (nothing said:
an optional part skipped, the end of an alternative), and a word of a slot value its BIO tag
(`"tagged"`: the automaton was written with tags; files written before have none). `GrammarAutomaton.distance(words)` is the
fewest word substitutions, insertions and deletions that turn `words` into a saying of the automaton
(the Levenshtein distance to a regular language: one pass over the words, each relaxing the edges in
state order). `GrammarAutomaton.parse(words)` reads an exact saying and gives its words' BIO tags: the
grammar's own reading of a transcript, which `SpeechToIntent` takes when the NLU misreads one, and
`GrammarAutomaton.reads(words, tags)` asks whether a path reads a saying with a tagger's tags (whether the
grammar agrees with the NLU). A distance of 0 means the transcript is a sentence of the grammar; `SpeechToIntent` accepts up to
`max_grammar_edits` (default 0, since a clip whose transcript is not a saying is decoded again inside
the grammar; 1 lets a recogniser that drops or swaps one small word, "play music on office speakers",
through without that).

`GrammarPrefixes` asks the other question, word by word as a decoder writes: is this text the
beginning of a saying of any intent (`allows`, the last word may be unfinished: "set a tim"), and
is it a whole saying (`is_saying`)? `SpeechRecognizer.scored_tokens` decodes under it, which is
how `SpeechToIntent` hears a command again inside the grammar when the free transcript was not
understood ("timer forty seconds" -> "timer thirty seconds").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from voice_ft.runtime.words import normalize_words

INFINITE = 1 << 30


class GrammarAutomaton:
    """One intent's expressions as a forward word automaton (start state 0); see the module docstring."""

    def __init__(self, states: int, finals: Sequence[int], edges: Sequence[Sequence], tagged: bool = False):
        """Args:
            states: the number of states.
            finals: the states a saying may end in.
            edges: `(from, word or None, to)` with `from < to`, or `(from, word, to, tag)` with the BIO tag
                of a slot value's word.
            tagged: whether slot values' edges carry their tags (then an edge without one is an O word).

        Raises:
            ValueError: a state out of range, an edge going backwards, a word that is not a string.
        """
        self.states = int(states)
        self.finals = sorted({int(f) for f in finals})
        self.tagged = bool(tagged)
        self.tags = {}
        plain = []
        for edge in edges:
            if len(edge) not in (3, 4):
                raise ValueError(f"grammar automaton: edge {list(edge)} must be [from, word, to] or [from, word, to, tag].")
            u, w, v = int(edge[0]), edge[1], int(edge[2])
            plain.append((u, w, v))
            if len(edge) == 4 and edge[3] is not None:
                self.tags[(u, w, v)] = str(edge[3])
        self.edges = sorted(plain, key=lambda e: (e[0], e[2]))
        if self.states < 1 or not self.finals or not all(0 <= f < self.states for f in self.finals):
            raise ValueError(f"grammar automaton: {self.states} states, finals {self.finals[:5]}: out of range.")
        for u, w, v in self.edges:
            if not 0 <= u < v < self.states or not (w is None or isinstance(w, str)):
                raise ValueError(f"grammar automaton: edge {[u, w, v]} must go forward between states 0..{self.states - 1} "
                                 "with a word (string) or null.")  # fmt: skip

    @classmethod
    def from_dict(cls, content: dict) -> GrammarAutomaton:
        """From the JSON form `{"states", "finals", "edges"}`."""
        return cls(content["states"], content["finals"], content["edges"], bool(content.get("tagged", False)))

    def to_dict(self) -> dict:
        edges = [[*e, self.tags[e]] if e in self.tags else list(e) for e in self.edges]
        return {"states": self.states, "finals": self.finals, "tagged": self.tagged, "edges": edges}

    def parse(self, words: Sequence[str]) -> list[str] | None:
        """The BIO tags ("O" outside slot values) of `words` along a path that reads them exactly, or None
        when they are not a saying. Where several paths do, the one through the lowest states."""
        out = self._adjacency()
        layers: list[dict[int, tuple]] = []  # per words read: state -> (previous state, tag or None for a null step)
        reached: dict[int, tuple] = {0: (None, None)}
        for i in range(len(words) + 1):
            layer = dict(reached)
            for u in sorted(layer):  # null edges go forward: states in order reach all their closure
                pending = [u]
                while pending:
                    x = pending.pop()
                    for w, v in out[x]:
                        if w is None and v not in layer:
                            layer[v] = (x, "null")
                            pending.append(v)
            layers.append(layer)
            if i == len(words):
                break
            reached = {}
            for u in sorted(layer):
                for w, v in out[u]:
                    if w == words[i] and v not in reached:
                        reached[v] = (u, self.tags.get((u, w, v), "O"))
            if not reached:
                return None
        ends = [f for f in self.finals if f in layers[-1]]
        if not ends:
            return None
        tags, state = [], ends[0]
        for i in range(len(words), -1, -1):
            previous, tag = layers[i][state]
            while tag == "null":
                state = previous
                previous, tag = layers[i][state]
            if i == 0:
                break
            tags.append(tag)
            state = previous
        return tags[::-1]

    def reads(self, words: Sequence[str], tags: Sequence[str]) -> bool:
        """Whether a path reads `words` exactly with these BIO tags ("O" outside slot values): whether the
        grammar can read the saying the way a tagger did. Needs a tagged automaton."""
        if not self.tagged:
            raise ValueError("grammar automaton: reads() needs slot tags on the edges (tagged=True).")
        if len(words) != len(tags):
            raise ValueError(f"grammar automaton: {len(words)} words but {len(tags)} tags.")
        states = self.start()
        for word, tag in zip(words, tags):
            states = self.advance(states, word, tag)
        return self.accepts(states)

    # --- reading a prefix exactly, for decoding inside the grammar ---------------------------

    def _adjacency(self) -> list[list[tuple[str | None, int]]]:
        if not hasattr(self, "_out"):
            self._out = [[] for _ in range(self.states)]
            for u, w, v in self.edges:
                self._out[u].append((w, v))
        return self._out

    def _closure(self, states: Iterable[int]) -> frozenset[int]:
        """`states` and every state reached from them over null edges."""
        out, seen, todo = self._adjacency(), set(states), list(states)
        while todo:
            for w, v in out[todo.pop()]:
                if w is None and v not in seen:
                    seen.add(v)
                    todo.append(v)
        return frozenset(seen)

    def start(self) -> frozenset[int]:
        """The states before any word."""
        return self._closure([0])

    def advance(self, states: frozenset[int], word: str, tag: str | None = None) -> frozenset[int]:
        """The states after reading `word` exactly from `states` (empty: no saying goes on with it); with `tag`,
        only over edges whose BIO tag it is ("O": an edge outside slot values)."""
        out = self._adjacency()
        return self._closure([v for u in states for w, v in out[u]
                              if w == word and (tag is None or self.tags.get((u, w, v), "O") == tag)])  # fmt: skip

    def continues_with(self, states: frozenset[int], partial: str) -> bool:
        """Whether a word that starts with `partial` can be read from `states`."""
        out = self._adjacency()
        return any(w is not None and w.startswith(partial) for u in states for w, _ in out[u])

    def accepts(self, states: frozenset[int]) -> bool:
        return any(f in states for f in self.finals)

    # --- distance -------------------------------------------------------------------------------

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


class GrammarPrefixes:
    """Whether a text begins, or is, a saying of any of `automata` (exactly, after `normalize_words`).

    The states reached by each sequence of whole words are kept, so a decoder that asks about the same
    transcript with one token more each step reads each word once.
    """

    def __init__(self, automata: Iterable[GrammarAutomaton]):
        self.automata = list(automata)
        if not self.automata:
            raise ValueError("GrammarPrefixes needs at least one automaton.")
        self._memo: dict[tuple[str, ...], list[frozenset[int]]] = {(): [a.start() for a in self.automata]}

    MEMO_LIMIT = 20_000  # word sequences remembered before the memo starts again (a long-lived app)

    def _states(self, words: tuple[str, ...]) -> list[frozenset[int]]:
        if words not in self._memo:
            if len(self._memo) > self.MEMO_LIMIT:
                self._memo = {(): self._memo[()]}
            before = self._states(words[:-1])
            self._memo[words] = [a.advance(s, words[-1]) if s else s for a, s in zip(self.automata, before)]
        return self._memo[words]

    def allows(self, text: str) -> bool:
        """Whether `text` can be continued into a saying: its whole words read, and its last word, if the
        text ends inside one, the beginning of a word that can come next."""
        words = tuple(normalize_words(text))
        unfinished = bool(words) and text.rstrip() == text and (text[-1:].isalnum() or text[-1:] == "'")
        if not unfinished:
            return any(self._states(words))
        partial = words[-1]
        return any(s and a.continues_with(s, partial) for a, s in zip(self.automata, self._states(words[:-1])))

    def is_saying(self, text: str) -> bool:
        """Whether `text` is a whole saying of some automaton."""
        return any(s and a.accepts(s) for a, s in zip(self.automata, self._states(tuple(normalize_words(text)))))
