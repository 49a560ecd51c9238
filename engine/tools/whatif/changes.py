"""The edits of a what-if: one change of a facts document, the editor that makes changes, every single one allowed.

A change drops a value from a list fact, adds one, or gives a scalar fact a value. The editor applies
changes to a copy of the document, and derives every single change the vocabulary allows: for a
number, version or text fact, only the values the rules tell apart (open_values).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from ...evaluation.derivation import passes
from ...facts.reading import FactsInput, read_facts
from ...io.loader import Document
from ...model.fact_types import fact_type
from ...model.terms import Fact, FactDecl, Scalar, Test, Var, show_value
from ...policy.knowledge import KnowledgeBase
from ...records import record


@record
class Change:
    """One edit of a facts document.

    kind: 'drop' (a value leaves a list fact), 'add' (a value joins a list fact) or 'set' (a scalar
    fact takes a value). entity None edits the top level (shared by every legal entity); otherwise
    the legal entity's own entry.
    """

    kind: str
    fact: str
    value: Scalar
    entity: str | None = None

    @property
    def slot(self) -> tuple[str, str, str | None, Scalar | None]:
        """Two changes of one slot cannot go together (two values for one fact, an add and a drop of one item)."""
        if self.kind == "set":
            return ("set", self.fact, self.entity, None)
        return ("list", self.fact, self.entity, self.value)

    def __str__(self) -> str:
        shown = show_value(self.value)
        if self.kind == "set":
            where = f" for {self.entity}" if self.entity else ""
            return f"set {self.fact}={shown}{where}"
        what = shown if self.fact == "requirements" else f"{self.fact} {shown}"
        if self.entity is None:
            return f"{self.kind} {what}"
        return f"{self.kind} {what} {'from' if self.kind == 'drop' else 'to'} {self.entity}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "fact": self.fact, "value": self.value, "entity": self.entity, "text": str(self)}


class FactsEditor:
    """A parsed facts document and the edits that can be made to it."""

    def __init__(self, kb: KnowledgeBase, doc: Document) -> None:
        self.kb = kb
        self.doc = doc
        self.original = read_facts(kb, doc)  # validates the document: everything below may trust its shape
        self.value: dict[str, Any] = doc.value
        listed = self.value.get("legal_entities") or []
        self.entity_index = {str(item["name"]).strip(): i for i, item in enumerate(listed)}
        self.entity_names = [e.name for e in self.original.entities]
        self._deltas: dict[Change, tuple[set[Fact], list[Fact]]] = {}  # what one change takes away and adds
        self._original_of: dict[str, set[Fact]] = {}  # the original facts by predicate, for _delta()
        for fact in self.original.ground:
            self._original_of.setdefault(fact.predicate, set()).add(fact)

    def apply(self, changes: Iterable[Change]) -> dict[str, Any]:
        """The document's value with the changes made (the original is left as it was)."""
        return _with_changes(self.value, self.entity_index, changes)

    def facts(self, changes: Iterable[Change], *, candidates: bool = False) -> FactsInput:
        """The facts with the changes made, checked as a facts file is; `candidates`: the changes are some
        of candidates(), which keep to the vocabulary, so the edited document is not checked again."""
        value = self.apply(changes)
        document = Document(self.doc.name, value, self.doc.marks, self.doc.key_marks)
        return read_facts(self.kb, document, conforming=candidates)

    def ground(self, changes: tuple[Change, ...]) -> list[Fact]:
        """The ground facts with some of candidates() made (not checked again, not located; see facts()).

        Each ground fact is read from one fact of the document, for one legal entity: a list's item from
        the item's place in the shared and the entity's own list, a scalar from the entity's own value or
        else the shared one. Changes that no ground fact reads together (see apart()) are put together
        from each change's own facts, read once: the original facts, less those each change takes away,
        with those each adds.
        """
        if not all(apart(a, b) for a, b in itertools.combinations(changes, 2)):
            return self.facts(changes, candidates=True).ground
        removed: set[Fact] = set()
        added: dict[Fact, None] = {}
        for change in changes:
            gone, new = self._delta(change)
            removed |= gone
            added.update(dict.fromkeys(new))
        return [*(f for f in self.original.ground if f not in removed), *added]

    def _delta(self, change: Change) -> tuple[set[Fact], list[Fact]]:
        """The original facts one change takes away, and the facts it adds.

        Only the changed fact's own facts can differ: they are read from the document cut down to the
        customer, the legal entities' names and that fact, with the change made.
        """
        found = self._deltas.get(change)
        if found is None:
            fact = change.fact
            value = {"customer": self.value["customer"]}
            if fact in self.value:
                value[fact] = self.value[fact]
            listed = self.value.get("legal_entities") or []
            if listed:
                value["legal_entities"] = [
                    {"name": item["name"], **({fact: item[fact]} if fact in item else {})} for item in listed
                ]
            changed = _with_changes(value, self.entity_index, (change,))
            document = Document(self.doc.name, changed, self.doc.marks, self.doc.key_marks)
            after = [f for f in read_facts(self.kb, document, conforming=True).ground if f.predicate == fact]
            before = self._original_of.get(fact, set())
            kept = set(after)
            found = self._deltas[change] = ({f for f in before if f not in kept}, [f for f in after if f not in before])
        return found

    def own(self, entity: str | None) -> dict[str, Any]:
        """The top level (entity None) or a legal entity's own entry."""
        if entity is None:
            return self.value
        item: dict[str, Any] = self.value["legal_entities"][self.entity_index[entity]]
        return item

    def current(self, decl: FactDecl, entity: str | None) -> Any:
        """A scalar fact's value where it is written, falling back to the top level and the default."""
        here = self.own(entity)
        if decl.id in here:
            return here[decl.id]
        if entity is not None and decl.id in self.value:
            return self.value[decl.id]
        return decl.default

    def candidates(self) -> list[Change]:
        """Every single change the vocabulary allows, in a stable order.

        For each list fact (capability-list, choice-list): drop each value written at the top level
        or in an entity's own list; add each allowed value not already written there. For each choice
        or boolean fact: every other allowed value, at the top level and (for an entity-scoped fact,
        when legal entities are listed) for each legal entity; an entity without its own value may take
        any value, its current one included, which pins it beside a change at the top level. Number,
        version and text facts take the values that can make a difference to the rules (open_values).
        """
        places: list[str | None] = [None]
        places.extend(self.entity_index)
        drops: list[Change] = []
        adds: list[Change] = []
        sets: list[Change] = []
        for decl in self.kb.facts.values():
            scoped = places if decl.scope == "entity" else [None]
            if decl.is_list:
                allowed = list(fact_type(decl).items(decl, self.kb.capabilities))
                for where in scoped:
                    written = list(self.own(where).get(decl.id) or [])
                    drops.extend(Change("drop", decl.id, v, where) for v in dict.fromkeys(written))
                    adds.extend(Change("add", decl.id, v, where) for v in allowed if v not in written)
            else:
                values = open_values(self.kb, decl) if is_open(decl) else list(fact_type(decl).values(decl, ()) or ())
                for where in scoped:
                    here = self.own(where)
                    now = here.get(decl.id, decl.default if where is None else None)
                    sets.extend(Change("set", decl.id, v, where) for v in values if now is None or not _same(v, now))
        return [*drops, *adds, *sets]


def _with_changes(value: dict[str, Any], entity_index: dict[str, int], changes: Iterable[Change]) -> dict[str, Any]:
    """A facts document's value with the changes made (the value given is left as it was)."""
    value = dict(value)
    if value.get("legal_entities"):
        value["legal_entities"] = list(value["legal_entities"])
    for change in changes:
        if change.entity is None:
            target = value
        else:
            index = entity_index[change.entity]
            target = dict(value["legal_entities"][index])
            value["legal_entities"][index] = target
        if change.kind == "set":
            target[change.fact] = change.value
        elif change.kind == "add":
            target[change.fact] = [*(target.get(change.fact) or []), change.value]
        else:
            target[change.fact] = [v for v in target.get(change.fact) or [] if v != change.value]
    return value


def apart(a: Change, b: Change) -> bool:
    """Whether no ground fact reads what both changes edit: different facts, different items of a list, or
    the own entries of different legal entities (a change at the top level reaches every entity's value)."""
    if a.fact != b.fact or ("set" not in (a.kind, b.kind) and a.value != b.value):
        return True
    return a.entity is not None and b.entity is not None and a.entity != b.entity


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def is_open(decl: FactDecl) -> bool:
    """A scalar fact with no finite set of values (number, version, text): see open_values."""
    return not decl.is_list and fact_type(decl).values(decl, ()) is None


def open_values(kb: KnowledgeBase, decl: FactDecl) -> list[Scalar]:
    """The values of a number, version or text fact that can make a difference to the rules.

    The rules tell values apart only by the tests with literals they apply to the fact (eq, ne,
    lt, lte, gt, gte, in, not_in). For a text fact the literals are the values to try. For a
    number or a version the literals cut the line into stretches in which every test comes out
    the same: each literal, a value inside each stretch between two of them, one below and one
    above them all (within the fact's bounds) cover every outcome. Of values that pass the same
    tests, one is kept, a literal first (the threshold a consultant recognises). A fact the rules
    test with no literal (only against other facts) has none.
    """
    tests: list[Test] = []
    for rule in kb.rules:
        for clause in rule.clauses:
            for atom in (*clause.positives, *clause.negatives, *(c.atom for c in clause.counts)):
                if atom.predicate == decl.id:
                    tests.extend(
                        t
                        for fp in atom.fields
                        if fp.field == "value"
                        for t in fp.tests
                        if not isinstance(t.operand, Var)
                    )
    operands = (v for t in tests for v in (t.operand if isinstance(t.operand, tuple) else (t.operand,)))
    literals: set[Scalar] = {v for v in operands if not isinstance(v, Var)}
    kind = fact_type(decl)
    # A literal first: of values that pass the same tests, the threshold a consultant recognises is kept.
    tried = sorted(kind.told_apart(decl, literals, other=False), key=lambda v: kind.ground(v) not in literals)
    kept: dict[tuple[bool, ...], Scalar] = {}
    for value in tried:
        kept.setdefault(tuple(passes(t, kind.ground(value), {}) for t in tests), value)
    return sorted(kept.values(), key=kind.ground)
