"""Issue 11 in Chromium, through the real processes: a staff member creates an invoice in the staff console, the
customer pays it in the portal with a card and gets the receipt by email, the staff member refunds part of it after
a confirmation page; both sides see the right balance and the refund. Every staff billing page is screenshot at 390
and 1280 px."""

from __future__ import annotations

import asyncio
import re

from tests.e2e.billing_world import new_customer, staff_token
from tests.e2e.helpers import mails, wait_for_mails

WIDTHS = (390, 1280)


async def _shots(page, folder, name: str) -> None:  # noqa: ANN001
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


async def _sign_in(page, url: str, login: str, password: str) -> None:  # noqa: ANN001
    await page.goto(url)
    await page.get_by_label("Email or username").fill(login)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_staff_invoice_paid_in_the_portal_then_partly_refunded(stack, browser, tmp_path):
    customer = new_customer(stack, staff_token(stack))
    cid = customer.customer_id
    staff = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    portal = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    base = stack.gateway_url

    # Staff: the customer's billing tab, empty; a new invoice, created and sent.
    await _sign_in(
        staff,
        f"{base}/staff/signin?next=/staff/customers/{cid}/billing",
        stack.config.staff_email,
        stack.config.staff_password,
    )
    await staff.wait_for_url(re.compile(rf".*/staff/customers/{cid}/billing$"))
    assert await staff.locator("#staff-balance").inner_text() == "$0.00"
    assert "No invoices yet." in await staff.content()
    await _shots(staff, tmp_path, "staff-tab-empty")
    await staff.get_by_role("link", name="New invoice").click()
    await staff.get_by_label("Line 1: description").fill("Server migration")
    await staff.get_by_label("Line 1: quantity").fill("2")
    await staff.get_by_label("Line 1: unit price").fill("125.00")
    await _shots(staff, tmp_path, "staff-invoice-new")
    await staff.get_by_role("button", name="Create and send").click()
    await staff.wait_for_url(re.compile(r".*/staff/invoices/[^/?]+\?done=created$"))
    assert await staff.locator("#invoice-status").inner_text() == "Unpaid"
    assert await staff.locator("#invoice-balance").inner_text() == "$250.00"
    number = (await staff.locator("h1").inner_text()).split()[-1]
    assert number.startswith("INV-")
    await _shots(staff, tmp_path, "staff-invoice")

    # Customer: sees it, stores a card at the processor's form, pays all.
    await _sign_in(portal, f"{base}/signin", customer.login, customer.password)
    await portal.wait_for_url(base + "/")
    await portal.goto(f"{base}/billing")
    assert await portal.locator("#invoice-balance").inner_text() == "$250.00"
    await portal.goto(f"{base}/billing/payment-options")
    await portal.get_by_label("Card number").fill("4242 4242 4242 4242")
    await portal.get_by_label("Expiry month").fill("12")
    await portal.get_by_label("Expiry year").fill("2031")
    await portal.get_by_role("button", name="Add card").click()
    await portal.wait_for_url(re.compile(r".*/billing/payment-options\?done=added$"))
    await portal.goto(f"{base}/billing")
    await portal.get_by_role("link", name="Pay all").click()
    await portal.get_by_label(re.compile("4242")).check()
    await portal.get_by_role("button", name="Pay now").click()
    await portal.wait_for_url(re.compile(r".*/billing\?done=paid$"))
    assert await portal.locator("#invoice-balance").inner_text() == "$0.00"

    # The receipt arrives (identity's payment_receipt, from billing's payment_succeeded): one, for this payment.
    [receipt] = await asyncio.to_thread(
        wait_for_mails, stack, lambda m: customer.login in m["rcpt_to"] and "Payment received" in m["subject"]
    )
    assert receipt["subject"] == "Payment received: $250.00"
    assert number in receipt["text"] and "4242 4242" not in str(receipt)

    # Staff: the payment is on the tab; a partial refund after the confirmation page.
    await staff.goto(f"{base}/staff/customers/{cid}/billing")
    assert await staff.locator("#staff-balance").inner_text() == "$0.00"
    payments = staff.locator("section[aria-labelledby=payments-heading] tbody tr")
    assert await payments.count() == 1 and "$250.00" in await payments.first.inner_text()
    await _shots(staff, tmp_path, "staff-tab-paid")
    await payments.first.get_by_role("link", name="Refund").click()
    await staff.wait_for_url(re.compile(r".*/refund$"))
    assert "At most $250.00 can still be refunded" in await staff.content()
    await staff.get_by_label("Amount to refund").fill("300.00")
    await staff.get_by_role("button", name="Refund").click()
    assert "250.00 USD" in await staff.locator("#form-error").inner_text()
    await _shots(staff, tmp_path, "staff-refund-refused")
    await staff.get_by_label("Amount to refund").fill("100.00")
    await staff.get_by_label("Reason (optional)").fill("One day of work not done")
    await _shots(staff, tmp_path, "staff-refund-confirm")
    await staff.get_by_role("button", name="Refund").click()
    await staff.wait_for_url(re.compile(r".*/billing\?done=refunded$"))
    row = await staff.locator("section[aria-labelledby=payments-heading] tbody tr").first.inner_text()
    assert "Refunded $100.00" in row and "Refund" in row  # $150.00 can still be refunded
    assert await staff.locator("#staff-balance").inner_text() == "$0.00"  # the invoice stays paid
    await _shots(staff, tmp_path, "staff-tab-refunded")

    # Customer: the invoice is still paid, the payment shows the refund.
    await portal.goto(f"{base}/billing/payments")
    assert "Refunded $100.00" in await portal.locator("tbody").inner_text()
    await portal.goto(f"{base}/billing")
    assert await portal.locator("#invoice-balance").inner_text() == "$0.00"
    await portal.goto(f"{base}/billing/invoices?q={number}")
    assert "Paid" in await portal.locator("tbody").inner_text()
    # Still one receipt: a refund is not a payment.
    assert len([m for m in mails(stack) if customer.login in m["rcpt_to"] and "Payment received" in m["subject"]]) == 1

    # The other staff pages: manual payment, store credit, estimate, void confirmation (screenshots, and French).
    await staff.goto(f"{base}/staff/customers/{cid}/store-credit/new")
    await staff.get_by_label("Amount").fill("20.00")
    await staff.get_by_label("Reference").fill("GOODWILL-1")
    await _shots(staff, tmp_path, "staff-credit-new")
    await staff.get_by_role("button", name="Add store credit").click()
    await staff.wait_for_url(re.compile(r".*done=credited$"))
    assert await staff.locator("#staff-credit").inner_text() == "$20.00"
    await staff.goto(f"{base}/staff/customers/{cid}/payments/new")
    await _shots(staff, tmp_path, "staff-payment-new")
    await staff.goto(f"{base}/staff/customers/{cid}/estimates/new")
    await _shots(staff, tmp_path, "staff-estimate-new")
    await staff.get_by_label("Name").fill("Backup upgrade")
    await staff.get_by_label("Line 1: description").fill("NAS")
    await staff.get_by_label("Line 1: unit price").fill("900")
    await staff.get_by_role("button", name="Save as draft").click()
    await staff.wait_for_url(re.compile(r".*done=created$"))
    estimates = staff.locator("section[aria-labelledby=estimates-heading] tbody tr")
    estimate_number = await estimates.first.locator("td").first.inner_text()
    await portal.goto(f"{base}/billing/estimates")
    assert estimate_number not in await portal.content()  # a draft is staff's only
    await estimates.first.get_by_role("button", name="Send").click()
    await staff.wait_for_url(re.compile(r".*done=sent$"))
    await portal.goto(f"{base}/billing/estimates")
    await portal.get_by_role("link", name=estimate_number, exact=True).click()
    await portal.get_by_role("button", name="Approve").click()
    await portal.get_by_label("Reason (optional)").fill("Budget signed off")
    await portal.get_by_role("button", name="Yes, approve").click()
    await portal.wait_for_url(re.compile(r".*done=approved$"))
    await staff.reload()
    decided = await staff.locator("section[aria-labelledby=estimates-heading] tbody tr").first.inner_text()
    assert "Approved" in decided and "by Pat Payer on" in decided and "Reason: Budget signed off" in decided
    await staff.goto(f"{base}/staff/customers/{cid}/invoices/new")
    await staff.get_by_label("Line 1: description").fill("Spare draft")
    await staff.get_by_label("Line 1: unit price").fill("10")
    await staff.get_by_role("button", name="Save as draft").click()
    await staff.wait_for_url(re.compile(r".*/staff/invoices/[^/?]+\?done=created$"))
    assert await staff.locator("#invoice-status").inner_text() == "Draft"
    await _shots(staff, tmp_path, "staff-invoice-draft")
    edit = staff.locator("section[aria-labelledby=edit-heading]")
    await edit.get_by_label("Line 1: unit price").fill("12.50")
    await edit.get_by_label("Line 2: description").fill("Cable")
    await edit.get_by_label("Line 2: unit price").fill("3")
    await edit.get_by_role("button", name="Save as draft").click()
    await staff.wait_for_url(re.compile(r".*done=saved$"))
    assert await staff.locator("#invoice-balance").inner_text() == "$15.50"
    await staff.get_by_role("link", name="Void").click()
    await _shots(staff, tmp_path, "staff-void-confirm")
    await staff.get_by_role("button", name="Yes, void it").click()
    await staff.wait_for_url(re.compile(r".*done=voided$"))
    assert await staff.locator("#invoice-status").inner_text() == "Void"
    await staff.context.add_cookies([{"name": "lang", "value": "fr", "url": base}])
    await staff.goto(f"{base}/staff/customers/{cid}/billing")
    assert "Facturation" in await staff.locator("h1").inner_text()
    await _shots(staff, tmp_path, "staff-tab-fr")
    await staff.context.close()
    await portal.context.close()
