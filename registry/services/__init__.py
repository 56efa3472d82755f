"""Use cases. Each takes ``(session, *, actor, clock, ...)``, checks the actor's permission,
changes data, writes its ChangeRecord and audit entry in the same transaction, and flushes.
Services never commit: the edge (web, API, CLI) commits once.
"""
