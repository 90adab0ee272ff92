"""Commands from a grammar: read a Rhino-style context YAML into a checked `Grammar`.

Users of on-device speech-to-intent already describe their domain this way (Picovoice Rhino's
context `.yml`), so voice_ft reads that format as it is:

```yaml
context:
  expressions:                       # intent -> expressions
    changeLightState:
      - "[turn, switch] $state:state (the) $location:location lights"
      - "@please [turn, switch] (the) lights $state:state"
  slots:                             # slot type -> values (a value may be several words)
    state: [on, off]
    location: [kitchen, living room]
  macros:                            # optional: name -> phrases, used as @name
    please: ["please", "could you"]
```

In an expression: `[a, b c]` is a choice (alternatives are word sequences), `(a b)` optional
words (`([a, b])` an optional choice; nesting is allowed), `$slotType:slotName` a slot (the slot
*name* is what the BIO tags carry: `B-location`), `@macro` one of the macro's phrases (which may
use the same syntax). Picovoice's built-in number types (`$pv.TwoDigitInteger:minutes`,
`pv.SingleDigitInteger`, `pv.Percent`, `pv.SingleDigitOrdinal`, `pv.TwoDigitOrdinal`) need no
values: voice_ft generates their English words (see `number_words`).

voice_ft extension: a slot value may be a mapping `{value: "12 oz", spoken: ["twelve ounce",
"twelve ounces"]}`. Then only the spoken forms are said (list the value itself among them if it
is also said as written), and the example keeps the canonical value, so a recognised phrase
maps back to it (`canonical_value`).

Words are kept as written in the grammar (case included): espeak-ng speaks them either way, and
normalising transcripts is the recogniser's business. Every problem is a `DataError` naming the
grammar file and line (YAML syntax, no `context`, unknown slot type or macro, unbalanced
brackets, an empty choice, an intent without expressions, a slot name twice in one expression,
...), before any sentence is sampled. Sampling and splitting live in `grammar_sampling`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Mapping

import yaml

from voice_ft.data.bundled import data_root
from voice_ft.data.number_words import BUILTIN_SLOT_TYPES
from voice_ft.runtime.errors import DataError

_SLOT = re.compile(r"^\$([A-Za-z_][\w.\-]*):([A-Za-z_]\w*)$")
_MACRO = re.compile(r"^@([A-Za-z_][\w\-]*)$")
_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")
_SYNTAX = set("[](),$@")
CONTEXT_KEYS = ("expressions", "slots", "macros")


# === The parsed form =================================================================


@dataclasses.dataclass(frozen=True)
class Word:
    text: str


@dataclasses.dataclass(frozen=True)
class Seq:
    """Items said one after the other."""

    items: tuple


@dataclasses.dataclass(frozen=True)
class Choice:
    """`[a, b]`: one of the options (each a `Seq`)."""

    options: tuple[Seq, ...]


@dataclasses.dataclass(frozen=True)
class Opt:
    """`(a)`: the body or nothing."""

    body: Seq


@dataclasses.dataclass(frozen=True)
class Slot:
    """`$type:name`: one value of the slot type, tagged `B-name I-name ...`."""

    type: str
    name: str


@dataclasses.dataclass(frozen=True)
class MacroRef:
    """`@name`: one of the macro's phrases."""

    name: str


@dataclasses.dataclass(frozen=True)
class SlotValue:
    """A slot value: the canonical `value` the application gets, and the word forms said for it."""

    value: str
    spoken: tuple[str, ...]
    line: int | None = None


@dataclasses.dataclass(frozen=True)
class SlotType:
    name: str
    values: tuple[SlotValue, ...]
    line: int | None = None  # None for the built-in types
    builtin: bool = False


@dataclasses.dataclass(frozen=True)
class Expression:
    """One expression of an intent, with its source line and parse tree."""

    intent: str
    text: str
    line: int
    tree: Seq


@dataclasses.dataclass(frozen=True, eq=False)
class Grammar:
    """A checked context: intents in file order, their expressions, slot types and macros."""

    path: str
    intents: tuple[str, ...]
    expressions: tuple[Expression, ...]
    slot_types: Mapping[str, SlotType]
    macros: Mapping[str, tuple[Seq, ...]]

    def expressions_of(self, intent: str) -> list[Expression]:
        return [e for e in self.expressions if e.intent == intent]

    @property
    def slot_names(self) -> dict[str, tuple[str, ...]]:
        """slot name -> the slot types used under that name (sorted by name)."""
        found: dict[str, set[str]] = {}
        for expression in self.expressions:
            for slot in _slots_in(expression.tree, self.macros):
                found.setdefault(slot.name, set()).add(slot.type)
        return {name: tuple(sorted(types)) for name, types in sorted(found.items())}

    @property
    def words(self) -> list[str]:
        """Every word a sentence of the grammar can say (expressions, macros, the used slot types' values
        and spoken forms), sorted: a closed domain's vocabulary (`voice_ft.asr.output_vocabulary`)."""
        return self._words(with_values=True)

    @property
    def spoken_words(self) -> list[str]:
        """The words of `words` that sampled sentences say: as `words`, but of slot values only their spoken
        forms (not a canonical "18" or "91%" that is said "eighteen degrees", "ninety one percent"), sorted."""
        return self._words(with_values=False)

    def _words(self, with_values: bool) -> list[str]:
        found: set[str] = set()

        def walk(node) -> None:
            if isinstance(node, Word):
                found.update(node.text.split())
            for child in _children(node, self.macros):
                walk(child)

        for expression in self.expressions:
            walk(expression.tree)
        for types in self.slot_names.values():
            for slot_type in types:
                for value in self.slot_types[slot_type].values:
                    for phrase in ((value.value,) if with_values else ()) + tuple(value.spoken):
                        found.update(phrase.split())
        return sorted(found)


def canonical_value(grammar: Grammar, slot_type: str, phrase: str) -> str | None:
    """The grammar's value for a recognised `phrase` of `slot_type` (case and spacing ignored), or None.

    `canonical_value(g, "size", "twelve ounces") -> "12 oz"`; the value as written matches too.
    """
    if slot_type not in grammar.slot_types:
        raise KeyError(f"no slot type {slot_type!r}; the grammar has {sorted(grammar.slot_types)}")
    wanted = _normal(phrase)
    for value in grammar.slot_types[slot_type].values:
        if wanted == _normal(value.value) or any(wanted == _normal(s) for s in value.spoken):
            return value.value
    return None


def _normal(phrase: str) -> str:
    return " ".join(phrase.casefold().split())


# === Reading the YAML ================================================================


def read_grammar(path: str | os.PathLike) -> Grammar:
    """Reads and checks a Rhino-style context YAML (see the module docstring).

    `path` is a file, or the name of a bundled grammar (`"smart_home"`, `"timers"`: `data/grammars/`).
    """
    path = pathlib.Path(path)
    bundled = data_root() / "grammars" / f"{path}.yml"
    if not path.is_file() and path.suffix == "" and bundled.is_file():
        path = bundled
    if not path.is_file():
        raise DataError("grammar file does not exist", path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text ({e.reason})", path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        message = f"YAML syntax error: {getattr(e, 'problem', None) or e}"
        context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and context_mark is not None:
            message += f" ({context} that starts on line {context_mark.line + 1})"
        raise DataError(message, path, mark.line + 1 if mark else None) from None
    return _Reader(path).grammar(root)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Reader:
    """Walks the composed YAML nodes (they carry line numbers) into a `Grammar`."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.macro_lines: dict[str, list[int]] = {}  # macro -> the line of each phrase

    def fail(self, message: str, node_or_line) -> DataError:
        line = node_or_line if isinstance(node_or_line, int) or node_or_line is None else _line(node_or_line)
        return DataError(message, self.path, line)

    def mapping(self, node, what: str) -> list[tuple[str, yaml.Node, int]]:
        """(key, value node, key line) of a mapping, rejecting duplicate and non-text keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping (name: ...)", node)
        seen: dict[str, int] = {}
        entries = []
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or not key.value.strip():
                raise self.fail(f"{what}: expected a name as key", key)
            if key.value in seen:
                raise self.fail(f"{what}: {key.value!r} appears twice (first on line {seen[key.value]})", key)
            seen[key.value] = _line(key)
            entries.append((key.value, value, _line(key)))
        return entries

    def text_list(self, node, what: str, line: int) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            raise self.fail(f"{what} is empty", line)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(f"{what} must be a list ('- ...' lines)", node)
        if not node.value:
            raise self.fail(f"{what} is empty", line)
        return node.value

    def grammar(self, root) -> Grammar:
        if root is None:
            raise self.fail("empty file; expected a top-level 'context:' mapping", None)
        top = dict((k, (v, line)) for k, v, line in self.mapping(root, "the file"))
        if "context" not in top:
            raise self.fail(f"no top-level 'context:' (found {', '.join(top)})", root)
        context_node, _ = top["context"]
        context = {k: (v, line) for k, v, line in self.mapping(context_node, "'context'")}
        unknown = sorted(set(context) - set(CONTEXT_KEYS))
        if unknown:
            raise self.fail(f"unknown key {unknown[0]!r} in 'context' (expected {', '.join(CONTEXT_KEYS)})",
                            context[unknown[0]][1])
        if "expressions" not in context:
            raise self.fail("'context' has no 'expressions:'", context_node)
        slot_types = self.slot_types(context["slots"][0]) if "slots" in context else {}
        macros = self.macros(context["macros"][0]) if "macros" in context else {}
        intents, expressions = [], []
        for intent, node, line in self.mapping(context["expressions"][0], "'expressions'"):
            if not _NAME.match(intent):
                raise self.fail(f"invalid intent name {intent!r}", line)
            intents.append(intent)
            for item in self.text_list(node, f"intent {intent!r} (it has no expressions)", line):
                text = self.scalar(item, f"an expression of {intent!r}")
                expressions.append(Expression(intent, text, _line(item), parse_expression(text, self.path, _line(item))))
        trees = [e.tree for e in expressions] + [p for phrases in macros.values() for p in phrases]
        for slot in (s for tree in trees for s in _slots_in(tree, {})):  # built-in types in use get their values
            if slot.type not in slot_types and slot.type in BUILTIN_SLOT_TYPES:
                values = tuple(SlotValue(v, (spoken,)) for v, spoken in BUILTIN_SLOT_TYPES[slot.type])
                slot_types[slot.type] = SlotType(slot.type, values, builtin=True)
        grammar = Grammar(str(self.path), tuple(intents), tuple(expressions), slot_types, macros)
        self.check_references(grammar)
        return grammar

    def scalar(self, node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null" or not node.value.strip():
            raise self.fail(f"{what} must be non-empty text", node)
        return node.value.strip()

    def slot_types(self, node) -> dict[str, SlotType]:
        types = {}
        for name, values_node, key_line in self.mapping(node, "'slots'"):
            if not _NAME.match(name):
                raise self.fail(f"invalid slot type name {name!r}", key_line)
            values, said = [], {}
            for item in self.text_list(values_node, f"slot type {name!r} (it has no values)", key_line):
                value = self.slot_value(item, name)
                if any(v.value == value.value for v in values):
                    raise self.fail(f"slot type {name!r}: value {value.value!r} is listed twice", item)
                for form in value.spoken:
                    key = _normal(form)
                    if key in said:
                        raise self.fail(f"slot type {name!r}: {form!r} is said for two values "
                                        f"({said[key]!r} and {value.value!r})", item)
                    said[key] = value.value
                values.append(value)
            types[name] = SlotType(name, tuple(values), key_line)
        return types

    def slot_value(self, node, type_name: str) -> SlotValue:
        what = f"a value of slot type {type_name!r}"
        if isinstance(node, yaml.MappingNode):
            fields = {k: v for k, v, _ in self.mapping(node, what)}
            if set(fields) - {"value", "spoken"} or "value" not in fields:
                raise self.fail(f"{what}: a mapping value needs 'value' and optionally 'spoken' (got {sorted(fields)})",
                                node)
            value = self.scalar(fields["value"], f"{what}: 'value'")
            spoken_node = fields.get("spoken")
            if spoken_node is None:
                spoken = [value]
            elif isinstance(spoken_node, yaml.ScalarNode):
                spoken = [self.scalar(spoken_node, f"{what}: 'spoken'")]
            else:
                spoken = [self.scalar(s, f"{what}: a 'spoken' form")
                          for s in self.text_list(spoken_node, f"{what}: 'spoken'", _line(spoken_node))]
        else:
            value = self.scalar(node, what)
            spoken = [value]
        for form in spoken:
            bad = sorted(set(form) & _SYNTAX)
            if bad:
                raise self.fail(f"{what}: {form!r} contains {''.join(bad)!r}; slot values are plain words "
                                "(use 'spoken:' forms for what is said)", node)
        return SlotValue(value, tuple(" ".join(form.split()) for form in spoken), _line(node))

    def macros(self, node) -> dict[str, tuple[Seq, ...]]:
        macros = {}
        for name, phrases, key_line in self.mapping(node, "'macros'"):
            if not _NAME.match(name):
                raise self.fail(f"invalid macro name {name!r}", key_line)
            items = self.text_list(phrases, f"macro {name!r} (it has no phrases)", key_line)
            self.macro_lines[name] = [_line(p) for p in items]
            macros[name] = tuple(parse_expression(self.scalar(p, f"a phrase of macro {name!r}"), self.path, _line(p))
                                 for p in items)
        return macros

    def check_references(self, grammar: Grammar) -> None:
        """Unknown slot types and macros, macro cycles, repeated slot names, empty expansions."""
        for name, phrases in grammar.macros.items():
            for phrase, line in zip(phrases, self.macro_lines[name]):
                self.check_tree(phrase, grammar, line, f"macro {name!r}", stack=(name,))
        for expression in grammar.expressions:
            self.check_tree(expression.tree, grammar, expression.line, f"intent {expression.intent!r}", stack=())
            try:
                _slot_names_once(expression.tree, grammar.macros)
            except ValueError as e:
                raise self.fail(f"{e} in expression {expression.text!r}", expression.line) from None
            if _can_be_empty(expression.tree, grammar.macros):
                raise self.fail(f"expression {expression.text!r} can be said as nothing at all (every word optional)",
                                expression.line)

    def check_tree(self, node, grammar: Grammar, line: int, where: str, stack: tuple[str, ...]) -> None:
        if isinstance(node, Seq):
            for item in node.items:
                self.check_tree(item, grammar, line, where, stack)
        elif isinstance(node, Choice):
            for option in node.options:
                self.check_tree(option, grammar, line, where, stack)
        elif isinstance(node, Opt):
            self.check_tree(node.body, grammar, line, where, stack)
        elif isinstance(node, Slot) and node.type not in grammar.slot_types:
            known = sorted(t for t, slot_type in grammar.slot_types.items() if not slot_type.builtin)
            raise self.fail(f"{where}: unknown slot type {node.type!r} in '${node.type}:{node.name}' "
                            f"(the grammar's slot types: {', '.join(known) or 'none'}; built-in: "
                            f"{', '.join(BUILTIN_SLOT_TYPES)})", line)
        elif isinstance(node, MacroRef):
            if node.name not in grammar.macros:
                raise self.fail(f"{where}: unknown macro '@{node.name}' (the grammar's macros: "
                                f"{', '.join(sorted(grammar.macros)) or 'none'})", line)
            if node.name in stack:
                raise self.fail(f"{where}: macro '@{node.name}' refers to itself ({' -> '.join(stack + (node.name,))})",
                                line)


# === Parsing one expression ============================================================

_TOKEN = re.compile(r"\s+|[\[\](),]|[^\s\[\](),]+")


def parse_expression(text: str, path=None, line: int | None = None) -> Seq:
    """`"[turn, switch] (the) $location:location lights"` -> a `Seq` tree; `DataError` on bad syntax."""
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text) if not m.group().isspace()]
    position = 0

    def fail(message: str, column: int):
        raise DataError(f"{message} at column {column + 1} of {text!r}", path, line)

    def sequence(closing: str | None) -> tuple[list, int | None]:
        """Items up to `closing` (or ',' inside a choice); returns them and the column where it stopped."""
        nonlocal position
        items = []
        while position < len(tokens):
            token, column = tokens[position]
            if token in ("]", ")", ","):
                if closing is None:
                    fail(f"unbalanced {token!r}" if token != "," else "',' outside '[...]' (a choice is [a, b])", column)
                if token == "," and closing != "]":
                    fail("',' inside '(...)': write '([a, b])' for an optional choice", column)
                if token not in (closing, ","):
                    fail(f"{token!r} closes a {'[' if closing == ']' else '('!r}", column)
                return items, column
            position += 1
            if token == "[":
                items.append(choice(column))
            elif token == "(":
                body, _ = sequence(")")
                if position >= len(tokens):
                    fail("unbalanced '(' (never closed)", column)
                position += 1  # the ')'
                if not body:
                    fail("empty optional '()'", column)
                items.append(Opt(Seq(tuple(body))))
            else:
                items.append(word(token, column))
        return items, None  # ran out of tokens (the caller reports an unclosed bracket)

    def choice(open_column: int) -> Choice:
        nonlocal position
        options = []
        while True:
            items, column = sequence("]")
            if column is None:
                fail("unbalanced '[' (never closed)", open_column)
            if not items:
                fail("empty choice '[]'" if not options and tokens[position][0] == "]" else "empty alternative in '[...]'",
                     column)
            options.append(Seq(tuple(items)))
            token = tokens[position][0]
            position += 1
            if token == "]":
                return Choice(tuple(options))

    def word(token: str, column: int):
        if token.startswith("$"):
            match = _SLOT.match(token)
            if not match:
                fail(f"bad slot reference {token!r} (write $slotType:slotName)", column)
            return Slot(match.group(1), match.group(2))
        if token.startswith("@"):
            match = _MACRO.match(token)
            if not match:
                fail(f"bad macro reference {token!r} (write @macroName)", column)
            return MacroRef(match.group(1))
        if "$" in token or "@" in token:
            fail(f"'$' or '@' inside the word {token!r} (slots and macros start a word)", column)
        return Word(token)

    items, _ = sequence(None)
    if not items:
        raise DataError("empty expression", path, line)
    return Seq(tuple(items))


# === Tree walks shared with the sampler ==================================================


def _children(node, macros) -> list:
    if isinstance(node, Seq):
        return list(node.items)
    if isinstance(node, Choice):
        return list(node.options)
    if isinstance(node, Opt):
        return [node.body]
    if isinstance(node, MacroRef):
        return list(macros.get(node.name, ()))
    return []


def _slots_in(node, macros) -> list[Slot]:
    if isinstance(node, Slot):
        return [node]
    return [s for child in _children(node, macros) for s in _slots_in(child, macros)]


def _slot_names_once(node, macros) -> set[str]:
    """The slot names one saying of `node` may carry; ValueError if one sentence could carry a name twice."""
    if isinstance(node, Slot):
        return {node.name}
    if isinstance(node, Seq):
        names: set[str] = set()
        for item in node.items:
            these = _slot_names_once(item, macros)
            if names & these:
                raise ValueError(f"slot name {sorted(names & these)[0]!r} is used twice")
            names |= these
        return names
    return {n for child in _children(node, macros) for n in _slot_names_once(child, macros)}  # alternatives


def _can_be_empty(node, macros) -> bool:
    if isinstance(node, (Word, Slot)):
        return False
    if isinstance(node, Opt):
        return True
    if isinstance(node, Seq):
        return all(_can_be_empty(item, macros) for item in node.items)
    return any(_can_be_empty(child, macros) for child in _children(node, macros))
