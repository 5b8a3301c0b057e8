"""Test fixtures for the whole repository; loaded by pytest through the `pytest11` entry point.

Fixtures: nats_server, postgres, new_database, db_url, migrated, smtp_catcher, stack_config, stack, browser, page.
"""

from portal_local.ports import free_port
from portal_testkit.browser import CHROMIUM, CHROMIUM_ARGS, launch_chromium
from portal_testkit.postgres import EmbeddedPostgres

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "EmbeddedPostgres", "free_port", "launch_chromium"]
