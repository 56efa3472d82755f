"""The terms revision: one counter, moved in the same transaction as every change of terms.

The decision path keeps the terms it reads (organisations, gateways, tools and versions, contracts
and licences, agreements and sub-processors, purposes) in memory and reads only this counter per
decision; a new value makes every instance drop what it holds, so a suspension or termination
made through one instance is honoured by the very next decision on every other.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel


class TermsRevision(SQLModel, table=True):
    __tablename__ = "terms_revision"
    # Exactly one row (id 1), made by the migration.
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True)
    revision: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
