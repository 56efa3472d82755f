"""A generated national-scale registry for the benchmarks: 500 hospitals (each with a gateway),
50 vendors, 5 platform operators, 300 tools, 50 framework contracts, 20,000 licences, and an
agreement between every hospital and every operator approving 10 vendors as sub-processors.
Rows are added directly (no change records): this is load for measuring, not data to audit."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy.orm import Session

from registry.db.agreements import DataProcessingAgreement, SubProcessor
from registry.db.contracts import ContractTool, FrameworkContract, Licence
from registry.db.organisations import Gateway, Organisation
from registry.db.tools import Tool, ToolVersion
from registry.services import terms_revision

HOSPITALS, VENDORS, OPERATORS, TOOLS, LICENCES = 500, 50, 5, 300, 20_000
USE = {"modalities": ["CR", "DX", "CT", "MR"], "body_parts": ["HAND", "CHEST", "HEAD"]}


def generate(session: Session, clock) -> None:  # noqa: ANN001
    rnd = random.Random(13)
    now = clock.now()
    year = now.year
    start, end = date(year, 1, 1), date(year, 12, 31)

    hospitals = [Organisation(kind="hospital", name=f"Large hospital {i}", ura=f"{70000000 + i}",
                              created_at=now, illustrative=True) for i in range(HOSPITALS)]
    vendors = [Organisation(kind="vendor", name=f"Large vendor {i}", created_at=now, illustrative=True)
               for i in range(VENDORS)]
    operators = [Organisation(kind="platform_operator", name=f"Large operator {i}", created_at=now,
                              illustrative=True) for i in range(OPERATORS)]
    session.add_all(hospitals + vendors + operators)
    session.flush()
    session.add_all([Gateway(hospital_id=h.id, name=f"gw {h.id}", client_id=f"large-gw-{h.id}",
                             created_at=now) for h in hospitals])
    tools = [Tool(slug=f"large-tool-{i}", name=f"Large tool {i}", vendor_id=vendors[i % VENDORS].id,
                  operator_id=operators[i % OPERATORS].id, created_at=now) for i in range(TOOLS)]
    session.add_all(tools)
    session.flush()
    session.add_all([ToolVersion(tool_id=t.id, version="1.0", intended_use=USE, is_default=True,
                                 certificate_expires_on=date(year + 3, 1, 1), created_at=now)
                     for t in tools])
    contracts = [FrameworkContract(reference=f"LARGE-FW-{i}", title=f"Large framework {i}",
                                   vendor_id=v.id, starts_on=start, ends_on=end, created_at=now)
                 for i, v in enumerate(vendors)]
    session.add_all(contracts)
    session.flush()
    by_vendor = {c.vendor_id: c for c in contracts}
    session.add_all([ContractTool(contract_id=by_vendor[t.vendor_id].id, tool_id=t.id,
                                  unit_price_cents=100) for t in tools])
    pairs = rnd.sample([(h, t) for h in range(HOSPITALS) for t in range(TOOLS)], LICENCES)
    for n, (h, t) in enumerate(pairs):
        tool = tools[t]
        session.add(Licence(reference=f"LARGE-LIC-{n}", contract_id=by_vendor[tool.vendor_id].id,
                            hospital_id=hospitals[h].id, tool_id=tool.id, starts_on=start, ends_on=end,
                            quota_limit=1000, created_at=now))
        if n % 5000 == 4999:
            session.flush()
    agreements = [DataProcessingAgreement(reference=f"LARGE-DPA-{h.id}-{o.id}", controller_id=h.id,
                                          processor_id=o.id, purposes=["clinical-care"], status="signed",
                                          signed_on=start, effective_on=start, created_at=now)
                  for h in hospitals for o in operators]
    session.add_all(agreements)
    session.flush()
    session.add_all([SubProcessor(agreement_id=a.id, name=v.name, organisation_id=v.id, approved_on=start)
                     for a in agreements for v in rnd.sample(vendors, 10)])
    terms_revision.bump(session)
    session.flush()

