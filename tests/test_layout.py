"""The package's shape: the command line in one package, no import cycles, and the data
generator usable without torch (bench/import_graph.py prints the graph)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _graph_module():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "bench" / "import_graph.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_no_import_cycles_and_argparse_only_in_the_cli():
    g = _graph_module()
    graph = g.graph()
    assert "rnastruct.cli" in graph and "rnastruct.cli.predict" in graph
    assert g.cycles(graph) == []
    seeing_argparse = sorted(m for m, deps in graph.items() if "argparse" in deps)
    assert seeing_argparse and all(m.startswith("rnastruct.cli") for m in seeing_argparse), seeing_argparse
    # nothing in the library imports the command line
    assert not [m for m, deps in graph.items() if not m.startswith("rnastruct.cli") and m != "rnastruct.__main__"
                and any(d.startswith("rnastruct.cli") for d in deps)]


def test_the_cycle_finder_finds_a_cycle():
    g = _graph_module()
    assert g.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_data_generator_does_not_import_torch():
    code = "import rnastruct.datagen, rnastruct.realdata, sys; assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_predicts_parser_and_fold_decoders_do_not_import_torch():
    """What the process that folds needs (the predict command's parser, its inputs and outputs,
    the decoders): ViennaRNA and numpy, never PyTorch's 180 MB; only S1's process loads it."""
    code = ("import sys; from rnastruct.cli import build_parser; build_parser('predict'); "
            "import rnastruct.predictor.decoders, rnastruct.predictor.inputs, rnastruct.predictor.outputs, "
            "rnastruct.outfiles, rnastruct.structure; assert 'torch' not in sys.modules, 'torch imported'; "
            "build_parser(); assert 'torch' in sys.modules, 'the other commands not built'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _reach(graph: dict, start: str) -> set:
    seen, todo = set(), [start]
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_layers_point_down():
    """Prediction reaches no training engine and no drawing; the numpy core no I/O module."""
    graph = _graph_module().graph()
    for m in [m for m in graph if m.startswith("rnastruct.predictor")]:
        below = _reach(graph, m)
        assert not below & {"rnastruct.train", "rnastruct.s1.training", "rnastruct.s2.training", "rnastruct.plots"}, m
    for m in ("rnastruct.structure", "rnastruct.boxes", "rnastruct.learned"):
        assert not _reach(graph, m) & {"rnastruct.seqio", "rnastruct.folding", "rnastruct.checkpoints"}, m


def test_bench_scripts_import_the_package_never_each_other():
    import ast

    scripts = {p.stem for p in (REPO / "bench").glob("*.py")}
    for p in (REPO / "bench").glob("*.py"):
        text = p.read_text()
        assert "sys.path" not in text, p.name
        for node in ast.walk(ast.parse(text)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] in scripts], (p.name, names)
