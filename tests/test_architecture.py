"""The layout the guide asks for, checked by walking the imports of the tree as it is: only gru_viz/ui imports
Streamlit, only the figure builders import Plotly, no import runs upward (engine < ui < tabs < app), tabs are
leaves. Every module is found from the files, so a new one is checked without being listed here."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gru_viz"
# pure builders: arrays in, Plotly figure out
FIGURE_BUILDERS = {"gru_viz.views.figures", "gru_viz.views.analysis_figures", "gru_viz.views.cell_figure"}


def module_files(package: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package's __init__.py under the package's name)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (lazy imports inside functions count too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from gru_viz.ui import page_state`
    return out


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (`from a import b` is an edge to a.b where b is a module)."""
    modules = module_files(package)
    graph = {}
    for name, path in modules.items():
        found = imported_modules(path) & set(modules)
        # `from gru_viz.ui.tabs import scrub` names both the package and the module: keep the module
        graph[name] = {m for m in found if not any(o.startswith(m + ".") for o in found)} - {name}
    return graph


def layer(module: str) -> int:
    """0 the engine (everything outside gru_viz/ui), 1 the page's shared parts, 2 the tabs, 3 the page itself."""
    if not module.startswith("gru_viz.ui."):
        return 0
    if module == "gru_viz.ui.app":
        return 3
    return 2 if module.startswith("gru_viz.ui.tabs") else 1


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs that run up a layer, or between two tabs."""
    bad = []
    for a, targets in graph.items():
        for b in targets:
            both_tabs = layer(a) == layer(b) == 2 and "gru_viz.ui.tabs" not in (a, b)
            if layer(b) > layer(a) or both_tabs:
                bad.append((a, b))
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Loops of imports (each found once from its first module in a depth-first walk)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def importers_of(package: Path, top: str) -> set[str]:
    """The package's modules that import `top` (streamlit, plotly) or any of its submodules."""
    return {name for name, path in module_files(package).items()
            if any(m.split(".")[0] == top for m in imported_modules(path))}


GRAPH = import_graph(PACKAGE)
ENGINE = {m for m in GRAPH if layer(m) == 0}
TABS = {m for m in GRAPH if m.startswith("gru_viz.ui.tabs.")}


def test_the_engine_is_every_module_outside_ui_found_in_the_tree():
    on_disk = {p for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts}
    assert len(ENGINE) == len(on_disk) >= 20
    assert {"gru_viz.nets.model", "gru_viz.train", "gru_viz.views.figures", "gru_viz.train.race"} <= ENGINE


def test_the_wings_are_walked_file_by_file_as_part_of_the_engine():
    """gru_viz/fast/ and gru_viz/serve/ (worker, queue, budget, class store) are plain Python: the checks below
    hold for each of their files."""
    assert {"gru_viz.fast.step", "gru_viz.fast.ext", "gru_viz.serve.worker", "gru_viz.serve.slots",
            "gru_viz.serve.budget", "gru_viz.serve.classroom", "gru_viz.serve.memlimit"} <= ENGINE


def test_every_tab_module_is_one_line_of_tabs_with_its_render_and_its_label_in_both_languages():
    """Adding a tab is a module with render(ctx), one line in TABS and its i18n keys: nothing else lists tabs."""
    from gru_viz.ui.strings import LANGS
    from gru_viz.ui.tabs import TABS as TABLE

    assert {render.__module__ for render in TABLE.values()} == TABS
    assert all(render.__name__ == "render" for render in TABLE.values())
    assert len(TABLE) >= 4 and list(TABLE)[0] == "scrub"  # the page opens on the scrubber
    for table in LANGS.values():
        assert all(table.get(f"tab_{key}") for key in TABLE)


def test_no_module_outside_ui_imports_streamlit():
    assert importers_of(PACKAGE, "streamlit") - {m for m in GRAPH if layer(m) > 0} == set()


def test_only_the_figure_builders_import_plotly():
    assert importers_of(PACKAGE, "plotly") <= FIGURE_BUILDERS
    assert "gru_viz.views.figures" in importers_of(PACKAGE, "plotly")


def test_no_import_runs_upward_and_no_tab_imports_another():
    assert upward_imports(GRAPH) == []


def test_no_modules_import_each_other_in_a_loop():
    """Lazy imports inside functions count: the fast wing reaches d2l's step in train.textbook, below the Trainer
    that dispatches to the wing, and choose_loops is handed its timer rather than importing the step."""
    assert cycles(GRAPH) == []


def test_the_readmes_layout_names_every_file_of_the_package_and_tools():
    """The README's Layout section is the house's drawing: a new file appears in it, a gone one leaves it."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("\n## ", readme.index("## Layout") + 1)]
    files = [p for folder in (PACKAGE, PACKAGE.parent / "tools") for p in folder.rglob("*")
             if p.suffix in (".py", ".js") and p.name != "__init__.py" and "__pycache__" not in p.parts]
    assert len(files) > 60
    assert [str(p.relative_to(PACKAGE.parent)) for p in files if p.name not in layout] == []


def test_only_the_page_state_touches_the_session_state():
    """Every read and write of the session goes through page_state's registry (declared keys only). The two
    custom components (the scrubber, the live forcing tab) read their own value where Streamlit keeps it."""
    touching = {name for name, path in module_files(PACKAGE).items()
                if "session_state" in path.read_text(encoding="utf-8")}
    assert touching <= {"gru_viz.ui.page_state", "gru_viz.ui.scrubber", "gru_viz.ui.live_force"}
    assert "gru_viz.ui.page_state" in touching


# --- the checks above can fail ---------------------------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "gru_viz" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "gru_viz"


def test_the_walker_sees_lazy_and_from_imports(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from gru_viz.ui.tabs import force\n    import streamlit\n", encoding="utf-8")
    found = imported_modules(bad)
    assert "gru_viz.ui.tabs.force" in found and "streamlit" in found


def test_the_checks_find_a_tab_importing_a_tab_an_engine_module_importing_ui_and_a_loop(tmp_path):
    package = _tree(tmp_path, {
        "model.py": "def f():\n    from gru_viz.ui import view\n",  # engine -> ui, lazily
        "data.py": "import gru_viz.model\nimport plotly\n",
        "ui/view.py": "import streamlit\nfrom gru_viz import data\n",  # a loop: model -> view -> data -> model
        "ui/tabs/__init__.py": "from gru_viz.ui.tabs import a, b\n",
        "ui/tabs/a.py": "from gru_viz.ui.tabs import b\n",
        "ui/tabs/b.py": "from gru_viz.ui import app\n",
        "ui/app.py": "from gru_viz.ui.tabs import a\n",
    })
    graph = import_graph(package)
    assert upward_imports(graph) == [("gru_viz.model", "gru_viz.ui.view"), ("gru_viz.ui.tabs.a", "gru_viz.ui.tabs.b"),
                                     ("gru_viz.ui.tabs.b", "gru_viz.ui.app")]
    assert ["gru_viz.data", "gru_viz.model", "gru_viz.ui.view", "gru_viz.data"] in cycles(graph)
    assert importers_of(package, "plotly") == {"gru_viz.data"}
    assert importers_of(package, "streamlit") == {"gru_viz.ui.view"}
