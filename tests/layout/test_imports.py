"""The import rules that import-linter cannot see (docs/contributing-features.md).

An import inside a function hides a dependency from the reader and, between two of our own modules, is how an
import cycle gets hidden: it is allowed only where loading the module up front would cost every process for a
rarely used feature, and each such place is listed here with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

from portal_testkit.import_contracts import strongly_connected

REPO = Path(__file__).resolve().parents[2]
SOURCES = [
    REPO / "gateway" / "src",
    REPO / "deploy" / "local" / "src",
    *(p / "src" for p in sorted((REPO / "services").iterdir()) if (p / "src").is_dir()),
    REPO / "services" / "remote" / "agent" / "src",
    *(p / "src" for p in sorted((REPO / "libs").iterdir()) if (p / "src").is_dir()),
]
FIRST_PARTY = {"portal", "servicekit", "identity", "tickets", "billing", "assets", "remote", "gateway"}
FIRST_PARTY |= {"portal_local", "portal_testkit", "portal_agent"}

# (module file relative to the repo, imported module): why it is imported late.
DEFERRED = {
    # fpdf2 costs ~50 MB per process; loaded on the first PDF so billing and tickets stay under 120 MB.
    ("services/billing/src/billing/grpc_api.py", "billing.pdf"),
    ("services/tickets/src/tickets/grpc_api.py", "tickets.tickets.pdf"),
    # obstore (the S3 client) is loaded only by a service whose blob store setting names an s3:// bucket.
    ("libs/servicekit/src/servicekit/blobs.py", "servicekit.blobs_s3"),
    # The sandbox card processor is left out of the production image; billing loads it only to serve one itself.
    ("services/billing/src/billing/payments/wiring.py", "billing.payments.sandbox"),
    # ... and its test card numbers, shown only while the sandbox is the processor.
    ("services/billing/src/billing/grpc_api.py", "billing.payments.sandbox"),
    # The Stripe SDK (and requests under it) is loaded only by a billing whose processor is Stripe.
    ("services/billing/src/billing/payments/wiring.py", "billing.payments.stripe"),
    # With GATEWAY_WORKERS > 1, prometheus_client's multiprocess directory must be set before it is first imported,
    # and these modules import it (or the app that does).
    ("gateway/src/gateway/server.py", "servicekit"),
    ("gateway/src/gateway/server.py", "gateway.main"),
    ("gateway/src/gateway/server.py", "gateway.edge.metrics"),
}


def _deferred_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every first-party import inside a function body of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                names = [inner.module]
            elif isinstance(inner, ast.ImportFrom):
                names = ["." * inner.level + (inner.module or "")]  # relative: always our own
            else:
                continue
            found += [(inner.lineno, n) for n in names if n.startswith(".") or n.split(".")[0] in FIRST_PARTY]
    return found


def test_no_first_party_import_inside_a_function_except_the_listed_ones() -> None:
    offenders, used = [], set()
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts or path.name.endswith(("_pb2.py", "_pb2_grpc.py")):
                continue
            rel = str(path.relative_to(REPO))
            for line, module in _deferred_imports(path):
                if (rel, module) in DEFERRED:
                    used.add((rel, module))
                else:
                    offenders.append(f"{rel}:{line} imports {module} inside a function")
    assert offenders == []
    assert used == DEFERRED, f"listed but gone (remove them from DEFERRED): {DEFERRED - used}"


def test_the_scanner_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import json\n\ndef f():\n    from tickets.tickets import service\n    import os\n")
    assert _deferred_imports(source) == [(4, "tickets.tickets")]


def test_the_cycle_contract_finds_cycles_and_only_them() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(strongly_connected(set(edges), edges)) == [["a", "b", "c"], ["e"]]
    assert strongly_connected({"x", "y"}, {"x": {"y"}}) == []


def test_every_package_folder_has_an_init_so_the_import_contracts_see_it() -> None:
    """import-linter (grimp) skips namespace packages: a folder of modules without __init__.py would be
    invisible to every contract in pyproject.toml."""
    missing = []
    for root in SOURCES:
        for folder in sorted({p.parent for p in root.rglob("*.py")}):
            if folder == root or "migrations" in folder.parts:
                continue
            if not (folder / "__init__.py").exists():
                missing.append(str(folder.relative_to(REPO)))
    assert missing == []
