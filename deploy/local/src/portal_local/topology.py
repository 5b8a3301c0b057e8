"""Which processes make up the platform and who calls whom: the same graph as the Helm chart's `services:`
(deploy/helm/portal/values.yaml), which `tests/deploy/test_topology.py` holds this table to. Adding a service or
a call is one row here and one entry there; the runner derives every child's peer addresses from `calls`.

A table rather than reading values.yaml at run time: the runner also runs where the chart is not shipped (the
image), and a test that fails on any difference keeps the two from drifting just as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Node:
    name: str  # package, env prefix (upper-cased), Kubernetes name
    kind: Literal["grpc", "http"]
    port: int  # default listening port (gRPC or HTTP)
    calls: tuple[str, ...] = ()  # peers whose address it is given as <PREFIX>_<PEER>_ADDR
    # "sign": holds the private key and signs principal tokens; "verify": the public key; "none": neither.
    principal_key: Literal["sign", "verify", "none"] = "verify"
    mail: bool = False  # sends email through SMTP
    blobs: bool = False  # keeps files in the blob store <PREFIX>_BLOB_STORE names (an s3:// or file:// URL)

    @property
    def env_prefix(self) -> str:
        return self.name.upper()


SERVICES = ("identity", "tickets", "billing", "assets", "remote")

TOPOLOGY: tuple[Node, ...] = (
    # Asked whether they hold data for a customer before it is deleted (SPEC C5).
    Node("identity", "grpc", 50051, calls=("tickets", "billing", "assets", "remote"), principal_key="sign", mail=True),
    # A new ticket's site and asset are checked with assets (T8); attachments are files.
    Node("tickets", "grpc", 50052, calls=("assets",), blobs=True),
    Node("billing", "grpc", 50053),
    # Customer documents are files.
    Node("assets", "grpc", 50054, blobs=True),
    # Asks assets, with the caller's own principal token, whether the caller may see an asset and whose it is.
    Node("remote", "grpc", 50055, calls=("assets",)),
    Node("gateway", "http", 8000, calls=SERVICES, principal_key="none"),
)

NODES: dict[str, Node] = {n.name: n for n in TOPOLOGY}
