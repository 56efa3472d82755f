"""The global search box: hospitals by name or URA, tools, contract/licence/agreement references,
decision ids and gateway client ids — only among what the actor may see (``registry.scope``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from registry.actor import Actor
from registry.workspace import OBJECT_TYPES

MAX_PER_KIND = 20


@dataclass
class Hit:
    type_key: str
    row: Any


def search_registry(session: Session, *, actor: Actor, q: str) -> list[Hit]:
    """Every object type that describes a search and that the actor may read, best matches first."""
    from registry.scope import restrict, scope_of

    scope = scope_of(session, actor)
    hits: list[Hit] = []
    for otype in OBJECT_TYPES.values():
        if otype.search is None or not actor.can(otype.read):
            continue
        stmt = restrict(otype.statement(), scope, otype.model).where(otype.search(q)).limit(MAX_PER_KIND)
        hits += [Hit(otype.key, row) for row in session.scalars(stmt)]
    return hits

