"""import-linter contract types of our own, registered in pyproject.toml's `[tool.importlinter]`.

`acyclic_modules`: no import cycle between modules. import-linter's `acyclic_siblings` looks at packages as
wholes, so it also flags a service's `events` package because `events/publish.py` is imported by the domain
code while `events/handlers.py` imports it — which is exactly the split the layout asks for. A cycle that
breaks at run time is between modules, and that is what this contract finds (type-checking-only imports are
left out when the top-level `exclude_type_checking_imports` is set).
"""

from __future__ import annotations

from importlinter import Contract, ContractCheck, fields, output


def strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is a few hundred modules; recursion is not the risk, clarity is)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in nodes:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    components.append(sorted(component))
    return components


class AcyclicModulesContract(Contract):
    """No module of `packages` takes part in an import cycle with other modules of the same packages."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:  # noqa: ANN001 (grimp's ImportGraph)
        modules: set[str] = set()
        for package in self.packages:  # type: ignore[attr-defined]
            modules |= {package} | graph.find_descendants(package)
        edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
        cycles = strongly_connected(modules, edges)
        return ContractCheck(kept=not cycles, warnings=None, metadata={"cycles": cycles, "edges": edges})

    def render_broken_contract(self, check: ContractCheck) -> None:
        edges = check.metadata["edges"]
        for cycle in check.metadata["cycles"]:
            members = set(cycle)
            output.print("Modules importing each other in a cycle:")
            for module in cycle:
                inside = sorted(edges[module] & members)
                output.print(f"- {module} -> {', '.join(inside)}")
            output.new_line()
