"""Issue 12, the permission-group editor in the staff console: the groups with their members' count, a new group
from the whole catalogue as checkboxes, renamed and changed, a duplicate name refused on the form, the built-in
groups read only, delete through a confirmation page and refused while a portal user is in the group. The
portal user in the group sees exactly what it grants. Screenshots at 390/1280 px, en/fr."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from servicekit import permissions as perm
from tests.e2e.helpers import api, api_sign_in
from tests.e2e.test_staff_customers_pages import _csrf, _pages, _staff_token

SHOTS = Path(os.environ.get("PORTAL_SCREENSHOTS", "/tmp/portal-shots"))  # noqa: S108 - where a human looks


def _group(stack, token: str, name: str) -> dict | None:  # noqa: ANN001
    with api(stack, token) as c:
        return next((g for g in c.get("/api/v1/staff/permission-groups").json() if g["name"] == name), None)


def test_staff_make_change_and_delete_a_permission_group_in_the_console(stack) -> None:  # noqa: ANN001
    suffix = secrets.token_hex(3)
    token = _staff_token(stack)
    name, renamed = f"Front desk {suffix}", f"Reception {suffix}"
    with _pages(stack, token) as c:
        listing = c.get("/staff/groups").text
        assert "Admin Portal Group" in listing and "Non-Portal User Group" in listing and "Built in" in listing

        form = c.get("/staff/groups/new").text
        assert form.count('type="checkbox" name="permission"') == len(perm.CATALOGUE), "the whole catalogue"
        fields = {"csrf_token": _csrf(form), "name": name, "permission": ["tickets.view_mine", "tickets.create"]}
        r = c.post("/staff/groups/new", data=fields)
        assert r.status_code == 303 and r.headers["location"] == "/staff/groups?done=created"
        made = _group(stack, token, name)
        assert made is not None and sorted(made["permissions"]) == ["tickets.create", "tickets.view_mine"]

        # A duplicate name is refused on the form, with what was typed kept.
        r = c.post("/staff/groups/new", data={**fields, "permission": ["knowledge_base.view"]})
        assert r.status_code == 409 and 'role="alert"' in r.text and f'value="{name}"' in r.text
        r = c.post("/staff/groups/new", data={"csrf_token": _csrf(form), "name": "  "})
        assert r.status_code == 400 and "Give the group a name." in r.text

        page = c.get(f"/staff/groups/{made['id']}").text
        assert 'value="tickets.create" checked' in page and 'value="invoices.view_all" checked' not in page
        r = c.post(
            f"/staff/groups/{made['id']}",
            data={"csrf_token": _csrf(page), "name": renamed, "permission": ["tickets.view_all", "invoices.view_all"]},
        )
        assert r.status_code == 303, r.text
        changed = _group(stack, token, renamed)
        assert changed is not None and sorted(changed["permissions"]) == ["invoices.view_all", "tickets.view_all"]

        # The built-in groups are read only.
        admin = _group(stack, token, "Admin Portal Group")
        assert admin is not None
        fixed = c.get(f"/staff/groups/{admin['id']}").text
        assert "cannot be changed" in fixed and "disabled" in fixed and 'type="submit"' not in fixed.split("<main")[1]

        # A group with a member cannot be deleted; once empty it can.
        with api(stack, token) as s:
            customer = s.post(
                "/api/v1/staff/customers",
                json={"business_name": f"Group Test {suffix}", "email": f"g-{suffix}@groups.test"},
            ).json()
            password = f"pw-{suffix}-long-enough"
            user = s.post(
                f"/api/v1/staff/customers/{customer['id']}/portal-users",
                json={"email": f"member-{suffix}@groups.test", "password": password, "group_name": renamed},
            )
            assert user.status_code == 201, user.text
        # The member sees exactly what the group grants: its tickets yes, knowledge base no.
        with api(stack, api_sign_in(stack, f"member-{suffix}@groups.test", password)) as member:
            assert member.get("/api/v1/tickets").status_code == 200
            assert member.get("/api/v1/kb/articles").status_code == 403
        confirm = c.get(f"/staff/groups/{made['id']}/delete")
        assert "Delete this group?" in confirm.text
        r = c.post(f"/staff/groups/{made['id']}/delete", data={"csrf_token": _csrf(confirm.text)})
        assert r.status_code == 409 and 'role="alert"' in r.text
        with api(stack, token) as s:
            moved = s.put(
                f"/api/v1/staff/portal-users/{user.json()['id']}/group", json={"group_name": "Admin Portal Group"}
            )
            assert moved.status_code == 200, moved.text
        r = c.post(f"/staff/groups/{made['id']}/delete", data={"csrf_token": _csrf(confirm.text)})
        assert r.status_code == 303 and r.headers["location"] == "/staff/groups?done=deleted"
        assert _group(stack, token, renamed) is None
        assert c.get(f"/staff/groups/{made['id']}").status_code == 404
        # No CSRF token, no change.
        assert c.post("/staff/groups/new", data={"name": f"Sneaky {suffix}"}).status_code == 403
        assert _group(stack, token, f"Sneaky {suffix}") is None


async def test_group_pages_at_two_widths_in_two_languages(stack, browser) -> None:  # noqa: ANN001
    token = await asyncio.to_thread(_staff_token, stack)
    admin = await asyncio.to_thread(_group, stack, token, "Admin Portal Group")
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    base = stack.gateway_url
    for lang in ("en", "fr"):
        for width in (390, 1280):
            context = await browser.new_context(viewport={"width": width, "height": 900})
            await context.add_cookies(
                [
                    {"name": "staff_session", "value": token, "url": base + "/staff"},
                    {"name": "lang", "value": lang, "url": base},
                ]
            )
            page = await context.new_page()
            for name, path in {
                "groups": "/staff/groups",
                "group": "/staff/groups/new",
                "builtin": f"/staff/groups/{admin['id']}",
            }.items():
                response = await page.goto(base + path)
                assert response is not None and response.status == 200
                await page.screenshot(path=str(SHOTS / f"staff-{name}-{lang}-{width}.png"), full_page=True)
            await context.close()
