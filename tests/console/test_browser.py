"""The console in a real headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium): what a shop owner and a hosted customer do, with a screenshot of each page.

Screenshots go to the test's own output folder; with ILUO_SYNC_SCREENSHOTS=DIR they are also
copied there (how docs/console/ was made). Waiting is for a condition (a run in the history)
with a generous bound, never a timed assertion.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from sqlalchemy import insert, select

from shared.control.schedule import now_s
from shared.erp.sync_tables import sync_retry_items, sync_service_state
from tests.console.conftest import OPERATOR, OPERATOR_PASSWORD, Served

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCRIPT_SKU = "<script>window.__pwned = 1</script>"


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--lang=pl-PL", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shoot(browser: webdriver.Chrome, tmp_path: Path) -> Callable[[str], Path]:
    """Save the page as NAME.png in the test's output (and ILUO_SYNC_SCREENSHOTS, if set)."""
    extra = os.environ.get("ILUO_SYNC_SCREENSHOTS")

    def shoot(name: str) -> Path:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1280, max(900, min(int(height) + 40, 3000)))
        path = tmp_path / f"{name}.png"
        assert browser.save_screenshot(str(path))
        browser.set_window_size(1280, 900)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return shoot


def _log_in(browser: webdriver.Chrome, url: str, name: str, password: str) -> None:
    browser.get(url + "/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "login-button").click()
    _wait_until(lambda: not browser.current_url.endswith("/login"), 30, "the page after login")


def _page_says(browser: webdriver.Chrome, words: str) -> None:
    _wait_until(lambda: words in browser.page_source, 30, f"a page saying {words!r}")


def _flash_says(browser: webdriver.Chrome, words: str) -> None:
    """After a click that loads a page: wait for that page's message (the old page may still
    be there for a moment)."""

    def shown() -> bool:
        try:
            return any(words in f.text for f in browser.find_elements(By.CLASS_NAME, "flash"))
        except StaleElementReferenceException:  # the old page went while we read it
            return False

    _wait_until(shown, 30, f"the message {words!r}")


def _wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.5)


def test_a_shop_owner_adds_a_database_runs_it_and_switches_it_off(
    served: Served, browser: webdriver.Chrome, shoot: Callable[[str], Path],
) -> None:
    url, site = served.url, served.site
    site.add_tenant("sklep-glowny")
    for sku in ("DEMO-0001", "DEMO-0002"):  # customers have ordered: the import has work
        site.shop.add_order([(sku, 2, "49.99")], status="processing")
    browser.get(url + "/")
    assert browser.current_url.endswith("/login")
    shoot("login")
    _log_in(browser, url, OPERATOR, OPERATOR_PASSWORD)
    assert browser.current_url.endswith("/service")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Usługa"
    shoot("service")

    # Add a database: the connection is checked, its integrations appear.
    erp_url, engine = site.erp()
    site.engines["hurtownia"] = engine
    browser.get(url + "/tenants")
    browser.find_element(By.ID, "tenant-name").send_keys("hurtownia")
    browser.find_element(By.ID, "tenant-url").send_keys(erp_url)
    browser.find_element(By.ID, "add-button").click()
    _flash_says(browser, "Baza dodana")
    assert browser.find_element(By.ID, "tenant-title").text == "hurtownia"
    assert "Sklep demo" in browser.find_element(By.CSS_SELECTOR, "section.integration h2").text
    tenant = site.registry.get("hurtownia")
    with engine.begin() as conn:  # a pending item whose SKU carries a script: text, never run
        conn.execute(insert(sync_retry_items).values(
            integration_id=1, operation="import_products", shop_id="77", item=SCRIPT_SKU,
            state="attention", first_failed_at=now_s(), last_failed_at=now_s(), attempts=2,
            last_error="the shop's product has no SKU the ERP can hold",
            next_attempt_at=now_s()))

    # Run now: the worker takes it, the run shows in the history.
    browser.find_element(By.ID, "run-1-import-orders").click()
    _flash_says(browser, "Zlecone")
    shoot("tenant-queued")

    def run_in_history() -> bool:
        browser.get(f"{url}/tenants/{tenant.id}/history?operation=import-orders")
        return bool(browser.find_elements(By.CSS_SELECTOR, "#events tr.run"))

    _wait_until(run_in_history, 90, "the run in the history")
    shoot("history")
    browser.find_element(By.CSS_SELECTOR, "#events td a").click()
    _page_says(browser, "Uruchomienie #")
    shoot("run")

    browser.get(f"{url}/tenants/{tenant.id}")
    assert SCRIPT_SKU in browser.find_element(By.ID, "pending").text
    assert browser.execute_script("return window.__pwned") is None
    shoot("tenant")

    # In English, then the emergency switch, behind its confirmation.
    browser.find_element(By.ID, "lang-switch").click()
    _page_says(browser, ">History<")
    shoot("tenant-en")
    browser.find_element(By.ID, "lang-switch").click()
    _page_says(browser, ">Historia<")
    browser.find_element(By.ID, "deactivate").click()
    _page_says(browser, "Wyłączyć synchronizację bazy hurtownia")
    shoot("confirm-deactivate")
    browser.find_element(By.ID, "confirm-button").click()
    _flash_says(browser, "Synchronizacja wyłączona")
    assert not site.registry.get("hurtownia").is_active
    with engine.connect() as conn:
        state = conn.execute(select(sync_service_state.c.state)
                             .where(sync_service_state.c.integration_id == 0)).scalar()
    assert state == "stopped"
    browser.get(url + "/tenants")
    shoot("tenants")
    browser.find_element(By.ID, "logout").click()
    _wait_until(lambda: browser.current_url.endswith("/login"), 30, "the login page")
    browser.get(url + "/service")
    assert browser.current_url.endswith("/login")


def test_a_tenant_user_sees_only_their_own_database(
    served: Served, browser: webdriver.Chrome, shoot: Callable[[str], Path],
) -> None:
    url, site = served.url, served.site
    mine, _ = site.add_tenant("moj-sklep")
    theirs, _ = site.add_tenant("cudzy-sklep")
    site.add_user("klient", "klient-haslo-1", mine)
    _log_in(browser, url, "klient", "klient-haslo-1")
    assert browser.current_url.endswith(f"/tenants/{mine.id}")
    assert browser.find_elements(By.CSS_SELECTOR, "header nav a") == []
    shoot("tenant-user")
    browser.get(f"{url}/tenants/{theirs.id}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "404"
    assert "cudzy-sklep" not in browser.page_source
    browser.get(url + "/service")
    assert browser.find_element(By.TAG_NAME, "h1").text == "403"
