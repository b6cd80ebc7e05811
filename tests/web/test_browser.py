"""The dashboard as a person uses it, in a real Chromium: a friend signs in with the one-time
link Telegram sent, sees the equity chart drawn with their data, filters their trades and
pauses from the page (the database, the audit log and the API agree); the operator signs in
with a token and stops new entries from the users page; a phone-sized screen has nothing
wider than itself. Both databases.

`SOLBOT_SCREENSHOTS=<folder>` saves the main pages there (docs/screenshots is made so)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page, expect
from sqlalchemy import select

from solbot.store.tables import AuditRow
from solbot.store.users import Users
from web.browser import browser, served
from web.conftest import Site, seed_candles

SHOTS = os.environ.get("SOLBOT_SCREENSHOTS")


async def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


async def test_a_friend_signs_in_looks_filters_and_pauses(site: Site) -> None:
    link = await site.services.credentials.create_link(site.users["alice"].id)
    async with served(site.services) as server, browser() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        await page.goto(f"{server.url}/signin#{link}")
        card = page.locator("section[data-user=alice]")
        await expect(card).to_be_visible()
        assert link not in page.url  # the secret left the address bar
        # The equity chart is drawn, with alice's two points.
        chart = page.locator("#equity-alice")
        await expect(chart).to_have_attribute("data-points", "2")
        await expect(chart.locator("svg.main-svg").first).to_be_visible()
        await expect(card.locator("table tbody tr")).to_have_count(1)  # her JUP position
        await shot(page, "overview")
        # Its candles with her entries and exits, from the position's token.
        seed_candles(site)
        await card.locator("table tbody a", has_text="JUP").click()
        candles = page.locator("#candles")
        await expect(candles).to_have_attribute("data-candles", "48")
        await expect(candles).to_have_attribute("data-fills", "3")
        await expect(candles.locator("g.trace").first).to_be_visible()
        await shot(page, "chart")
        # Trades: all six, then JUP only, then sorted by PnL.
        await page.click("text=Trades")
        rows = page.locator("#trades-table tbody tr")
        await expect(rows).to_have_count(6)
        await page.fill("#trade-filters input[name=token]", "JUP")
        await page.click("#trade-filters button[type=submit]")
        await expect(rows).to_have_count(3)
        await expect(page.locator("#trades-count")).to_have_text("1–3 of 3")
        await page.select_option("#trade-filters select[name=result]", "loss")
        await page.click("#trade-filters button[type=submit]")
        await expect(rows).to_have_count(1)
        csv = page.locator("a[download]")
        assert "token=JUP" in (await csv.get_attribute("href") or "")
        await shot(page, "trades")
        # Pause from the page.
        await page.click("text=Overview")
        await page.click("#pause-alice")
        await expect(page.locator("#notice")).to_have_text("paused")
        await expect(page.locator("#resume-alice")).to_be_visible()
        assert errors == []
    async with site.db.session() as s:
        alice = await Users(s, site.clock).by_username("alice")
        actors = [(a.actor, a.action) for a in await s.scalars(select(AuditRow))]
    assert alice is not None
    assert not alice.is_active
    assert ("web:alice", "pause") in actors
    assert ("web:alice", "web_sign_in") in actors


async def test_the_operator_signs_in_with_a_token_and_stops_entries(site: Site) -> None:
    async with served(site.services) as server, browser() as chromium:
        page = await chromium.new_page()
        await page.goto(server.url)
        await page.fill("#signin-secret", site.operator_token)
        await page.click("#signin-form button")
        await expect(page.locator("#group-table tbody tr")).to_have_count(2)
        await page.click("#group-table a:text('bob')")
        await expect(page.locator("section[data-user=bob]")).to_be_visible()
        await page.click("#nav-users")
        await expect(page.locator("#users-table tbody tr")).to_have_count(2)
        await shot(page, "users")
        await page.click("#entries")
        await expect(page.locator("#notice")).to_have_text("new entries stopped")
        await expect(page.locator("#entries")).to_have_text("Allow new entries")
        status = (await site.bearer().get("/api/v1/status")).json()
        assert status["entries_stopped"] is True
        # A wrong token is one line on the page, and no session.
        await page.click("#sign-out")
        await page.fill("#signin-secret", "solbot_op_wrong")
        await page.click("#signin-form button")
        await expect(page.locator("#notice")).to_contain_text("not valid")


async def test_a_phone_screen_needs_no_sideways_scrolling(site: Site) -> None:
    link = await site.services.credentials.create_link(site.users["alice"].id)
    async with served(site.services) as server, browser() as chromium:
        page = await chromium.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        await page.goto(f"{server.url}/signin#{link}")
        await expect(page.locator("#equity-alice")).to_have_attribute("data-points", "2")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        await shot(page, "phone")


async def test_a_friend_adds_a_webhook_and_never_sees_its_address_again(site: Site) -> None:
    """Adding posts nothing (no Test click here: its name would be looked up)."""
    link = await site.services.credentials.create_link(site.users["alice"].id)
    secret = "https://discord.com/api/webhooks/9/page-token-abc1"
    async with served(site.services) as server, browser() as chromium:
        page = await chromium.new_page()
        await page.goto(f"{server.url}/signin#{link}")
        await expect(page.locator("section[data-user=alice]")).to_be_visible()
        await page.click("#nav-webhooks")
        await page.fill("#hook-name", "alice-discord")
        await page.fill("#hook-url", secret)
        await page.uncheck(".hook-group[value=summary]")
        await page.click("#webhook-form button[type=submit]")
        await expect(page.locator("#notice")).to_contain_text("webhook 'alice-discord' added")
        row = page.locator("#webhooks-table tbody tr[data-hook=alice-discord]")
        await expect(row).to_contain_text("https://discord.com/…abc1")
        await expect(row).to_contain_text("breaker, entry, exit")
        assert "page-token" not in await page.content()
        await shot(page, "webhooks")
        await row.locator("button.danger").click()
        await expect(page.locator("#notice")).to_have_text("webhook 'alice-discord' removed")
        await expect(page.locator("#webhooks-table")).to_have_count(0)


async def test_the_operator_opens_a_report_in_its_sandbox(site: Site) -> None:
    from web.test_reports import write_report

    path = write_report(site)
    async with served(site.services) as server, browser() as chromium:
        context = await chromium.new_context()
        said: list[tuple[object, str]] = []  # every page's, the report's from its first line
        context.on("weberror", lambda e: said.append((e.page, str(e.error))))
        context.on("console", lambda m: said.append((m.page, m.text)) if m.type == "error" else 0)
        page = await context.new_page()
        await page.goto(server.url)
        await page.fill("#signin-secret", site.operator_token)
        await page.click("#signin-form button")
        await page.click("#nav-reports")
        row = page.locator(f"#reports-table tr[data-report='{path.name}']")
        await expect(row).to_be_visible()
        await shot(page, "reports")
        async with context.expect_page() as opened:
            await row.locator("a", has_text=path.name).click()
        report = await opened.value
        await expect(report.locator("svg.main-svg").first).to_be_visible()  # plotly drew it
        # Sandboxed: the report's scripts run as an origin of their own, without our cookies.
        assert await report.evaluate("window.origin") == "null"
        assert (
            await report.evaluate(
                "(() => { try { return document.cookie } catch (e) { return 'refused' } })()"
            )
            == "refused"
        )
        assert [text for where, text in said if where is page]  # the sign-in probe: seen
        assert [text for where, text in said if where is report] == []
