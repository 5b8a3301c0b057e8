"""Custom fields on customers (SPEC C4): staff define text and dropdown fields; a dropdown answer may carry a
badge (label and colour) shown next to the customer's name. Functions never commit; the caller's unit of work does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity import validation
from identity.access import require_staff
from identity.audit.service import record
from identity.custom_fields.models import DROPDOWN, TEXT, TYPES, CustomField, CustomFieldValue
from identity.db import utcnow
from servicekit.errors import AlreadyExists, InvalidArgument, NotFound
from servicekit.principal import Principal

MAX_FIELDS = 100
MAX_OPTIONS = 50
MAX_VALUE = 500
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[a-z]{3,20})$")


@dataclass(frozen=True)
class Badge:
    label: str
    color: str


@dataclass(frozen=True)
class Answer:
    field_id: str
    field_name: str
    value: str
    badge: Badge | None


def clean_options(field_type: str, options: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
    """A dropdown's answers: distinct, non-empty, each with an optional badge (label and colour together)."""
    options = list(options)
    if field_type != DROPDOWN:
        if options:
            raise InvalidArgument("only a dropdown has answers to choose from", field="options")
        return []
    if not options:
        raise InvalidArgument("a dropdown needs at least one answer", field="options")
    if len(options) > MAX_OPTIONS:
        raise InvalidArgument(f"a dropdown has at most {MAX_OPTIONS} answers", field="options")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for o in options:
        value = validation.text(o.get("value", ""), field="options", required=True, what="each answer")
        if value.lower() in seen:
            raise InvalidArgument(f"the answer {value!r} is there twice", field="options")
        seen.add(value.lower())
        label = validation.text(o.get("badge_label", ""), field="options", max_length=30)
        color = o.get("badge_color", "").strip().lower()
        if label and not _COLOR.match(color):
            raise InvalidArgument("a badge's colour is a colour name or #rrggbb", field="options")
        out.append({"value": value, "badge_label": label, "badge_color": color if label else ""})
    return out


async def list_fields(s: AsyncSession, *, principal: Principal) -> list[CustomField]:
    """Every field, by position then name (staff only)."""
    require_staff(principal)
    return await all_fields(s)


async def all_fields(s: AsyncSession) -> list[CustomField]:
    return list((await s.scalars(select(CustomField).order_by(CustomField.position, CustomField.name_key))).all())


async def create_field(
    s: AsyncSession, *, principal: Principal, name: str, field_type: str, options: list[Mapping[str, str]]
) -> CustomField:
    """A new field after the existing ones (staff only); names are unique regardless of case."""
    require_staff(principal)
    name = validation.text(name, field="name", required=True, what="the field's name", max_length=100)
    if field_type not in TYPES:
        raise InvalidArgument(f"a field's type is one of {', '.join(TYPES)}", field="type")
    cleaned = clean_options(field_type, options)
    if (await s.scalar(select(func.count()).select_from(CustomField))) >= MAX_FIELDS:
        raise InvalidArgument(f"at most {MAX_FIELDS} custom fields", field="name")
    if await s.scalar(select(CustomField.id).where(CustomField.name_key == name.lower())) is not None:
        raise AlreadyExists("another custom field has this name", field="name")
    last = await s.scalar(select(func.max(CustomField.position)))
    field = CustomField(name=name, name_key=name.lower(), type=field_type, options=cleaned, position=(last or 0) + 1)
    s.add(field)
    await s.flush()
    await record(
        s,
        kind="custom_field_created",
        subject=f"custom_field:{field.id}",
        at=utcnow(),
        detail={"by": principal.subject_id},
    )
    return field


async def _field(s: AsyncSession, field_id: str) -> CustomField:
    field = await s.get(CustomField, field_id) if field_id and len(field_id) <= 36 else None
    if field is None:
        raise NotFound("no such custom field", field="field_id")
    return field


async def update_field(
    s: AsyncSession,
    *,
    principal: Principal,
    field_id: str,
    name: str,
    options: list[Mapping[str, str]],
    position: int = 0,
) -> CustomField:
    """Rename, reorder and replace a dropdown's answers (staff only); answers no longer offered are removed."""
    require_staff(principal)
    field = await _field(s, field_id)
    name = validation.text(name, field="name", required=True, what="the field's name", max_length=100)
    cleaned = clean_options(field.type, options)
    other = await s.scalar(
        select(CustomField.id).where(CustomField.name_key == name.lower(), CustomField.id != field.id)
    )
    if other is not None:
        raise AlreadyExists("another custom field has this name", field="name")
    field.name, field.name_key, field.options = name, name.lower(), cleaned
    if position:
        field.position = position
    if field.type == DROPDOWN:
        offered = [o["value"] for o in cleaned]
        await s.execute(
            delete(CustomFieldValue).where(
                CustomFieldValue.field_id == field.id, CustomFieldValue.value.not_in(offered)
            )
        )
    await s.flush()
    await record(
        s,
        kind="custom_field_changed",
        subject=f"custom_field:{field.id}",
        at=utcnow(),
        detail={"by": principal.subject_id},
    )
    return field


async def delete_field(s: AsyncSession, *, principal: Principal, field_id: str) -> None:
    """Remove a field and every customer's answer to it (staff only)."""
    require_staff(principal)
    field = await _field(s, field_id)
    await s.execute(delete(CustomFieldValue).where(CustomFieldValue.field_id == field.id))
    await s.delete(field)
    await s.flush()
    await record(
        s,
        kind="custom_field_deleted",
        subject=f"custom_field:{field.id}",
        at=utcnow(),
        detail={"by": principal.subject_id},
    )


async def set_answers(s: AsyncSession, *, customer_id: str, answers: Mapping[str, str]) -> None:
    """Replace the customer's answers: a dropdown's must be one of its answers; empty means unanswered."""
    fields = {f.id: f for f in await all_fields(s)}
    keep: dict[str, str] = {}
    for field_id, raw in answers.items():
        field = fields.get(field_id)
        if field is None:
            raise NotFound("no such custom field", field="custom_fields")
        value = validation.text(raw, field="custom_fields", max_length=MAX_VALUE)
        if not value:
            continue
        if field.type == DROPDOWN and value not in [o["value"] for o in field.options]:
            raise InvalidArgument(f"{field.name}: choose one of its answers", field="custom_fields")
        keep[field_id] = value
    await s.execute(delete(CustomFieldValue).where(CustomFieldValue.customer_id == customer_id))
    s.add_all(CustomFieldValue(customer_id=customer_id, field_id=k, value=v) for k, v in keep.items())
    await s.flush()


async def answers_of(s: AsyncSession, customer_ids: list[str]) -> dict[str, list[Answer]]:
    """Each customer's answers in the fields' order, with the badge of a dropdown answer that has one."""
    if not customer_ids:
        return {}
    fields = {f.id: f for f in await all_fields(s)}
    order = {fid: i for i, fid in enumerate(fields)}
    rows = (await s.scalars(select(CustomFieldValue).where(CustomFieldValue.customer_id.in_(customer_ids)))).all()
    out: dict[str, list[Answer]] = {cid: [] for cid in customer_ids}
    for row in sorted(rows, key=lambda r: order.get(r.field_id, 0)):
        field = fields[row.field_id]
        badge = None
        if field.type == DROPDOWN:
            option = next((o for o in field.options if o["value"] == row.value), None)
            if option and option.get("badge_label"):
                badge = Badge(option["badge_label"], option.get("badge_color", ""))
        out[row.customer_id].append(Answer(field.id, field.name, row.value, badge))
    return out


__all__ = ["DROPDOWN", "TEXT", "Answer", "Badge"]
