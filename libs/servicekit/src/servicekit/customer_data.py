"""CustomerDataService (portal.common.v1): how many records a service holds for a customer (SPEC C5).

Identity deletes a customer only when every service answers that it holds nothing for it. Every table of the
service's metadata with a `customer_id` column counts, so a table added later counts without anyone
remembering to list it; a service only names what its rows are called and which tables are mere settings.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
import sqlalchemy as sa

from portal.common.v1 import customer_data_pb2, customer_data_pb2_grpc
from servicekit.app import Wiring
from servicekit.db import Database
from servicekit.errors import InvalidArgument, PermissionDenied
from servicekit.principal import current_principal

SERVICE_NAME = customer_data_pb2.DESCRIPTOR.services_by_name["CustomerDataService"].full_name
MAX_CUSTOMER_ID = 64


class CustomerDataServicer(customer_data_pb2_grpc.CustomerDataServiceServicer):
    """Counts, per table with a `customer_id` column, the customer's rows.

    `kinds` names tables' rows ("credit_entries": "store credit entries") and comes first in answers; other
    tables are called by their name with spaces. `settings` are tables that only configure the customer
    (they do not stop a delete)."""

    def __init__(
        self,
        db: Database,
        *,
        service: str,
        metadata: sa.MetaData,
        kinds: Mapping[str, str] | None = None,
        settings: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.service = service
        self._metadata = metadata
        self._kinds = dict(kinds or {})
        self._settings = set(settings)

    def counted(self) -> list[tuple[sa.Table, str]]:
        """The tables that count and what their rows are called; read when asked, after every model is imported."""
        tables = [t for t in self._metadata.sorted_tables if "customer_id" in t.c and t.name not in self._settings]
        order = list(self._kinds)
        tables.sort(key=lambda t: (order.index(t.name) if t.name in order else len(order), t.name))
        return [(t, self._kinds.get(t.name, t.name.replace("_", " "))) for t in tables]

    async def count(self, customer_id: str) -> list[tuple[str, int]]:
        """(kind, count) for each kind with at least one record."""
        out: list[tuple[str, int]] = []
        async with self.db.unit_of_work() as s:
            for table, kind in self.counted():
                n = await s.scalar(
                    sa.select(sa.func.count()).select_from(table).where(table.c.customer_id == customer_id)
                )
                if n:
                    out.append((kind, int(n)))
        return out

    async def CountCustomerData(  # noqa: N802
        self, request: customer_data_pb2.CountCustomerDataRequest, context: grpc.aio.ServicerContext
    ) -> customer_data_pb2.CountCustomerDataResponse:
        if not current_principal().is_staff:
            raise PermissionDenied("only staff can do this")
        if not request.customer_id or len(request.customer_id) > MAX_CUSTOMER_ID:
            raise InvalidArgument("enter a customer id", field="customer_id")
        counts = await self.count(request.customer_id)
        return customer_data_pb2.CountCustomerDataResponse(
            service=self.service,
            counts=[customer_data_pb2.CustomerDataCount(kind=k, count=n) for k, n in counts],
        )


def include(wiring: Wiring, servicer: CustomerDataServicer) -> Wiring:
    """The service's wiring with CustomerDataService served next to its own servicers."""
    register = wiring.register

    def register_both(server: grpc.aio.Server) -> None:
        register(server)
        customer_data_pb2_grpc.add_CustomerDataServiceServicer_to_server(servicer, server)

    wiring.register = register_both
    wiring.service_names = [*wiring.service_names, SERVICE_NAME]
    return wiring
