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

# glibc malloc settings every service process and the gateway get, from the runner (Stack.env_for) and from the
# chart (portal.env in deploy/helm/portal/templates/_helpers.tpl); tests/deploy/test_topology.py holds the two to
# this table (issue 16: each process under 150 MB resident after the benchmark load; docs/architecture.md).
# MALLOC_MMAP_THRESHOLD_, fixed, turns off glibc's dynamic threshold. Dynamic, the first free of a large block
# raises the threshold to that block's size (and the heap's trim threshold to twice it), so from then on blocks
# that size come from the heap of the thread's arena and stay resident once freed: identity's two argon2 workers
# each kept their 19 MiB hashing buffer for good (171 MB after the benchmark's sign-ins, 132 MB with this). Fixed
# at 4 MiB, a block that large is mapped for the call and unmapped when freed; smaller ones come from the heap, whose
# free top goes back to the system past glibc's default 128 KiB (a trim threshold no longer raised either).
# (MALLOC_ARENA_MAX=2 was tried as well: no difference measured on any process, so it is not set.)
ALLOCATOR_ENV: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": str(4 * 2**20)}
