"""Creating and finding organisations."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import CertamenError, Kind
from item_bank import audit
from storage import Organisation

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")


class OrganisationError(CertamenError):
    kind = Kind.INVALID


def create_organisation(db: Session, slug: str, name: str, *, actor: str, default_due_days: int = 30) -> Organisation:
    slug = (slug or "").strip().lower()
    name = (name or "").strip()
    if not _SLUG.fullmatch(slug):
        raise OrganisationError("the slug is 3 to 60 lower-case letters, digits and hyphens (e.g. acme-uk)")
    if not name or len(name) > 200:
        raise OrganisationError("the name is required (at most 200 characters)")
    if not 1 <= default_due_days <= 3650:
        raise OrganisationError("the default due period is 1 to 3650 days")
    if db.execute(select(Organisation.id).where(Organisation.slug == slug)).scalar() is not None:
        raise OrganisationError(f"an organisation {slug!r} exists already", kind=Kind.CONFLICT)
    org = Organisation(slug=slug, name=name, default_due_days=default_due_days)
    db.add(org)
    db.flush()
    audit.record(db, actor=actor, kind="organisation.create", subject=f"organisation:{slug}",
                 data={"name": name, "default_due_days": default_due_days})
    return org


def organisation(db: Session, slug: str) -> Organisation:
    org = db.execute(select(Organisation).where(Organisation.slug == (slug or "").strip().lower())).scalar()
    if org is None:
        raise OrganisationError(f"no organisation {slug!r}", kind=Kind.NOT_FOUND)
    return org
