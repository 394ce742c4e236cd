"""The import graph of the rnastruct package (every import, module-level or inside a function),
its cycles, and the modules that see argparse.

    python bench/import_graph.py [--dot graph.dot]

Prints one line per module (``module -> imports``), then the cycles (strongly connected
components of more than one module) and the library modules that import argparse; exits 1 when
there is a cycle or argparse outside ``rnastruct.cli``. tests/test_layout.py asserts the same.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rnastruct"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """rnastruct modules (and 'argparse') that ``path`` imports anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("rnastruct") or a.name == "argparse"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("rnastruct"):
                # "from . import x" / "from .s1 import stage": the submodule when there is one
                for a in node.names:
                    sub = f"{mod}.{a.name}"
                    out.add(sub if _exists(sub) else mod)
            elif mod == "argparse":
                out.add("argparse")
    out.discard(name)
    return out


def _exists(mod: str) -> bool:
    p = PACKAGE.parent.joinpath(*mod.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    g = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}
    # a module imported as "rnastruct.s1" means its __init__
    return {m: {i for i in deps if i == "argparse" or i in g} for m, deps in g.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), ignoring a package's
    edges to its own __init__ (importing rnastruct.s1.x runs rnastruct/s1/__init__.py first)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w == "argparse":
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in g:
        if v not in index:
            visit(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dot", help="also write the graph in Graphviz format here")
    args = ap.parse_args()
    g = graph()
    for m, deps in g.items():
        print(f"{m} -> {', '.join(sorted(deps)) or '-'}")
    cyc = cycles(g)
    argp = sorted(m for m, deps in g.items() if "argparse" in deps and not m.startswith("rnastruct.cli"))
    print(f"\ncycles: {cyc or 'none'}")
    print(f"library modules importing argparse: {argp or 'none'}")
    if args.dot:
        lines = ["digraph rnastruct {"] + [f'  "{m}" -> "{d}";' for m, deps in g.items() for d in sorted(deps)
                                           if d != "argparse"] + ["}"]
        Path(args.dot).write_text("\n".join(lines) + "\n")
    sys.exit(1 if cyc or argp else 0)


if __name__ == "__main__":
    main()
