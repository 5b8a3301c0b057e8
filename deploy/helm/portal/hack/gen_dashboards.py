"""Writes the chart's Grafana dashboards (deploy/helm/portal/dashboards/*.json).

The dashboards share their panels' shape, so they are generated from this one description rather than
edited by hand; tests/deploy checks the committed JSON matches this output. Run after a change:

    uv run python deploy/helm/portal/hack/gen_dashboards.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "dashboards"

GRPC_SERVICES = ["identity", "tickets", "billing", "assets", "remote"]
SERVER_ERRORS = "UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS"
RATE = "$__rate_interval"

# Services that run a durable consumer (their events.py wires one); only they export
# portal_<svc>_consumer_lag, so only they get consumer-lag panels. tests/ops checks that every consumer-lag
# series the running stack exports has a panel: add a service here when it gets its first consumer.
CONSUMING_SERVICES = ["identity", "tickets", "billing", "remote"]

# Business metrics per service: (title, expression, unit, legend).
BUSINESS: dict[str, list[tuple[str, str, str, str]]] = {
    "identity": [
        (
            "Sign-ins by outcome",
            f"sum by (outcome) (rate(portal_identity_sign_ins_total[{RATE}]))",
            "ops",
            "{{outcome}}",
        ),
    ],
    "tickets": [
        ("Tickets opened", f"sum(rate(portal_tickets_opened_total[{RATE}]))", "ops", "opened"),
    ],
    "billing": [
        (
            "Payments by outcome",
            f"sum by (outcome) (rate(portal_billing_payments_total[{RATE}]))",
            "ops",
            "{{outcome}}",
        ),
        (
            "Payment amounts (minor units/s)",
            f"sum by (outcome, currency) (rate(portal_billing_payment_amount_minor_total[{RATE}]))",
            "short",
            "{{outcome}} {{currency}}",
        ),
    ],
    "remote": [
        # Each replica counts the agents holding their stream to it, and its own open sessions: the sums are the
        # platform's.
        ("Agents online", "sum(portal_remote_agents_online)", "short", "online"),
        ("Remote sessions open", "sum(portal_remote_sessions_open)", "short", "open"),
        (
            "Script runs by outcome",
            f"sum by (outcome) (rate(portal_remote_script_runs_total[{RATE}]))",
            "ops",
            "{{outcome}}",
        ),
        (
            "Commands refused by reason",
            f"sum by (reason) (rate(portal_remote_commands_refused_total[{RATE}]))",
            "ops",
            "{{reason}}",
        ),
    ],
    "assets": [],
    "gateway": [],
}

# Panels that need Kubernetes-only metrics (kube-state-metrics, cAdvisor); they stay empty elsewhere.
K8S_NOTE = "Kubernetes only: needs kube-state-metrics and the kubelet's cAdvisor metrics."


def ratio(metric: str, matcher: str, by: str = "") -> str:
    """PromQL for the share of `metric`'s rate that matches `matcher`, optionally per label.

    0 (not "no data") while nothing matches: a healthy service has no error series at all, so the matching
    side is padded with the total times 0.
    """
    agg = f"sum by ({by})" if by else "sum"
    part = f"{agg} (rate({metric}{{{matcher}}}[{RATE}]))"
    total = f"{agg} (rate({metric}[{RATE}]))"
    return f"({part} or 0 * {total}) / {total}"


def quantile(q: float, histogram: str, by: str = "") -> str:
    """PromQL for the q-quantile of a histogram's rate, optionally per label."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({histogram}_bucket[{RATE}])))"


class Board:
    def __init__(self, uid: str, title: str, description: str, tags: list[str]) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels: list[dict] = []
        self._y = 0
        self._x = 0

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y = 0, self._y + 8
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "id": len(self.panels) + 1,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1

    def panel(
        self,
        title: str,
        targets: list[tuple[str, str]],
        unit: str = "short",
        *,
        kind: str = "timeseries",
        description: str = "",
        width: int = 12,
    ) -> None:
        if self._x + width > 24:
            self._x, self._y = 0, self._y + 8
        panel = {
            "type": kind,
            "title": title,
            "id": len(self.panels) + 1,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": width, "x": self._x, "y": self._y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
            "targets": [
                {
                    "refId": chr(ord("A") + i),
                    "expr": expr,
                    "legendFormat": legend,
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                }
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        if description:
            panel["description"] = description
        self.panels.append(panel)
        self._x += width

    def to_json(self) -> dict:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": self.tags,
            "editable": True,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "timezone": "browser",
            "templating": {
                "list": [
                    {
                        "name": "datasource",
                        "label": "Data source",
                        "type": "datasource",
                        "query": "prometheus",
                        "current": {},
                        "hide": 0,
                        "refresh": 1,
                    }
                ]
            },
            "annotations": {"list": []},
            "panels": self.panels,
        }


def grpc_red(board: Board, svc: str, *, by_method: bool) -> None:
    m = f"portal_{svc}_grpc"
    by = "method" if by_method else ""
    legend = "{{method}}" if by_method else svc
    board.panel(
        "Requests/s" + (" by method" if by_method else ""),
        [(f"sum by ({by}) (rate({m}_requests_total[{RATE}]))", legend)],
        "reqps",
    )
    board.panel(
        "Server-error ratio" + (" by method" if by_method else ""),
        [
            (
                ratio(f"{m}_requests_total", f'code=~"{SERVER_ERRORS}"', by),
                legend,
            )
        ],
        "percentunit",
    )
    board.panel("Responses by code", [(f"sum by (code) (rate({m}_requests_total[{RATE}]))", "{{code}}")], "reqps")
    board.panel(
        "Latency p50 / p95 / p99",
        [(quantile(q, f"{m}_request_duration_seconds"), f"p{p}") for q, p in ((0.5, "50"), (0.95, "95"), (0.99, "99"))],
        "s",
    )
    if by_method:
        board.panel(
            "p95 latency by method",
            [
                (
                    quantile(0.95, f"{m}_request_duration_seconds", "method"),
                    "{{method}}",
                )
            ],
            "s",
            width=24,
        )


def events(board: Board, svc: str) -> None:
    consumes = svc in CONSUMING_SERVICES
    width = 8 if consumes else 12
    board.panel("Outbox backlog", [(f"max(portal_{svc}_outbox_backlog)", "unpublished events")], "short", width=width)
    board.panel("Oldest unpublished event", [(f"max(portal_{svc}_outbox_oldest_age_seconds)", "age")], "s", width=width)
    if consumes:
        board.panel(
            "Consumer lag", [(f"max by (consumer) (portal_{svc}_consumer_lag)", "{{consumer}}")], "short", width=8
        )


def service_board(svc: str) -> Board:
    board = Board(
        f"portal-{svc}", f"Portal / {svc}", f"Requests, errors, latency and events of {svc}.", ["portal", svc]
    )
    if svc == "gateway":
        m = "portal_gateway_http"
        board.row("HTTP")
        board.panel(
            "Requests/s by route", [(f"sum by (route) (rate({m}_requests_total[{RATE}]))", "{{route}}")], "reqps"
        )
        board.panel(
            "Responses by status", [(f"sum by (status) (rate({m}_requests_total[{RATE}]))", "{{status}}")], "reqps"
        )
        board.panel(
            "5xx ratio",
            [
                (
                    ratio(f"{m}_requests_total", 'status=~"5.."'),
                    "5xx",
                )
            ],
            "percentunit",
        )
        board.panel(
            "Latency p50 / p95 / p99",
            [
                (quantile(q, f"{m}_request_duration_seconds"), f"p{p}")
                for q, p in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
            ],
            "s",
        )
        board.panel(
            "p95 latency by route",
            [
                (
                    quantile(0.95, f"{m}_request_duration_seconds", "route"),
                    "{{route}}",
                )
            ],
            "s",
            width=24,
        )
        board.panel(
            "p95 of calls to backends, as the gateway waits for them",
            [(quantile(0.95, "portal_gateway_backend_call_duration_seconds", "backend"), "{{backend}}")],
            "s",
        )
        board.panel(
            "Event loop lag p50 / p99",
            [(quantile(q, "portal_gateway_event_loop_lag_seconds"), f"p{p}") for q, p in ((0.5, "50"), (0.99, "99"))],
            "s",
        )
        board.panel(
            "Share of time stopped by garbage collection, by generation",
            [
                (
                    "sum by (generation) (rate(portal_gateway_gc_pause_seconds_sum[5m]))",
                    "generation {{generation}}",
                )
            ],
            "percentunit",
        )
    else:
        board.row("RPCs")
        grpc_red(board, svc, by_method=True)
        board.row("Events")
        events(board, svc)
    if BUSINESS[svc]:
        board.row("Business")
        for title, expr, unit, legend in BUSINESS[svc]:
            board.panel(title, [(expr, legend)], unit)
    return board


def overview_board() -> Board:
    board = Board(
        "portal-overview",
        "Portal / Overview",
        "Every service at a glance: traffic, errors, latency, events and the business counters.",
        ["portal"],
    )
    board.row("Traffic")
    board.panel(
        "Gateway requests/s by status",
        [(f"sum by (status) (rate(portal_gateway_http_requests_total[{RATE}]))", "{{status}}")],
        "reqps",
    )
    board.panel(
        "RPCs/s by service", [(f"sum(rate(portal_{s}_grpc_requests_total[{RATE}]))", s) for s in GRPC_SERVICES], "reqps"
    )
    board.row("Errors and latency")
    board.panel(
        "Gateway 5xx ratio",
        [
            (
                ratio("portal_gateway_http_requests_total", 'status=~"5.."'),
                "5xx",
            )
        ],
        "percentunit",
    )
    board.panel(
        "RPC server-error ratio by service",
        [
            (
                ratio(f"portal_{s}_grpc_requests_total", f'code=~"{SERVER_ERRORS}"'),
                s,
            )
            for s in GRPC_SERVICES
        ],
        "percentunit",
    )
    board.panel(
        "Gateway p99 latency",
        [
            (
                quantile(0.99, "portal_gateway_http_request_duration_seconds"),
                "p99",
            )
        ],
        "s",
    )
    board.panel(
        "RPC p99 latency by service",
        [
            (
                quantile(0.99, f"portal_{s}_grpc_request_duration_seconds"),
                s,
            )
            for s in GRPC_SERVICES
        ],
        "s",
    )
    board.row("Events")
    board.panel(
        "Outbox backlog by service", [(f"max(portal_{s}_outbox_backlog)", s) for s in GRPC_SERVICES], "short", width=8
    )
    board.panel(
        "Oldest unpublished event by service",
        [(f"max(portal_{s}_outbox_oldest_age_seconds)", s) for s in GRPC_SERVICES],
        "s",
        width=8,
    )
    board.panel(
        "Consumer lag by service", [(f"max(portal_{s}_consumer_lag)", s) for s in CONSUMING_SERVICES], "short", width=8
    )
    board.row("Business")
    for svc in GRPC_SERVICES:
        for title, expr, unit, legend in BUSINESS[svc]:
            board.panel(title, [(expr, legend)], unit, width=8)
    return board


def billing_scaling_board() -> Board:
    board = Board(
        "portal-billing-scaling",
        "Portal / Billing scaling",
        "Billing scales on its own: replicas and the autoscaler's decisions next to the load they "
        "answer and the latency they keep.",
        ["portal", "billing", "scaling"],
    )
    m = "portal_billing_grpc"
    board.row("Load and latency")
    board.panel("Billing RPCs/s", [(f"sum(rate({m}_requests_total[{RATE}]))", "total")], "reqps", width=8)
    board.panel(
        "RPCs/s per pod",
        [(f"sum by (pod) (rate({m}_requests_total[{RATE}]))", "{{pod}}")],
        "reqps",
        width=8,
        description="Even lines mean load spreads over new replicas.",
    )
    board.panel(
        "Latency p95 / p99",
        [(quantile(q, f"{m}_request_duration_seconds"), f"p{p}") for q, p in ((0.95, "95"), (0.99, "99"))],
        "s",
        width=8,
    )
    board.panel(
        "Server-error ratio",
        [
            (
                ratio(f"{m}_requests_total", f'code=~"{SERVER_ERRORS}"'),
                "errors",
            )
        ],
        "percentunit",
    )
    board.panel(
        "Payments by outcome",
        [(f"sum by (outcome) (rate(portal_billing_payments_total[{RATE}]))", "{{outcome}}")],
        "ops",
    )
    board.row("Replicas and autoscaling")
    board.panel(
        "Replicas: desired / ready",
        [
            ('sum(kube_deployment_spec_replicas{deployment=~".*billing"})', "desired"),
            ('sum(kube_deployment_status_replicas_ready{deployment=~".*billing"})', "ready"),
        ],
        "short",
        description=K8S_NOTE,
    )
    board.panel(
        "Autoscaler: min / max / desired / current",
        [
            ('sum(kube_horizontalpodautoscaler_spec_min_replicas{horizontalpodautoscaler=~".*billing"})', "min"),
            ('sum(kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler=~".*billing"})', "max"),
            (
                'sum(kube_horizontalpodautoscaler_status_desired_replicas{horizontalpodautoscaler=~".*billing"})',
                "desired",
            ),
            (
                'sum(kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler=~".*billing"})',
                "current",
            ),
        ],
        "short",
        description=K8S_NOTE,
    )
    board.panel(
        "CPU per pod (cores)",
        [(f'sum by (pod) (rate(container_cpu_usage_seconds_total{{container="billing"}}[{RATE}]))', "{{pod}}")],
        "short",
        description=K8S_NOTE,
    )
    board.panel(
        "Memory per pod",
        [('sum by (pod) (container_memory_working_set_bytes{container="billing"})', "{{pod}}")],
        "bytes",
        description=K8S_NOTE,
    )
    board.row("Events")
    events(board, "billing")
    return board


def boards() -> dict[str, dict]:
    out = {"overview.json": overview_board().to_json(), "billing-scaling.json": billing_scaling_board().to_json()}
    for svc in [*GRPC_SERVICES, "gateway"]:
        out[f"service-{svc}.json"] = service_board(svc).to_json()
    return out


def render(board: dict) -> str:
    return json.dumps(board, indent=2) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, board in boards().items():
        (OUT / name).write_text(render(board))
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
