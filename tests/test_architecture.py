"""The layout the guide asks for, checked by walking the imports: tabs are leaves, the engine has no UI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gru_viz"
ENGINE = ("data", "model", "train", "fast", "checkpoint", "inference", "analysis", "race", "figures")
TABS_DIR = PACKAGE / "ui" / "tabs"
TAB_MODULES = {p.stem for p in TABS_DIR.glob("*.py") if p.stem != "__init__"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth of its code (lazy imports inside functions count too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from gru_viz.ui import scrub_tab`
    return out


def test_the_four_tabs_exist_as_modules():
    assert TAB_MODULES == {"scrub", "force", "train", "gates"}


def test_no_tab_imports_another_tab():
    for tab in TAB_MODULES:
        imports = imported_modules(TABS_DIR / f"{tab}.py")
        others = {m for m in imports for other in TAB_MODULES - {tab} if m == f"gru_viz.ui.tabs.{other}"}
        assert not others, f"{tab} imports {others}"


def test_only_the_page_assembles_the_tabs():
    """Shared code (actions, page state, chrome…) must not reach into a tab either."""
    for path in (PACKAGE / "ui").glob("*.py"):
        if path.stem == "app":
            continue
        tabs = {m for m in imported_modules(path) if m.startswith("gru_viz.ui.tabs")}
        assert not tabs, f"{path.name} imports {tabs}"


def test_engine_imports_neither_streamlit_nor_plotly_except_figures_plotly():
    for name in ENGINE:
        folder = PACKAGE / name  # a wing (gru_viz/fast/) is checked file by file
        files = sorted(folder.glob("*.py")) if folder.is_dir() else [PACKAGE / f"{name}.py"]
        imports = set().union(*(imported_modules(f) for f in files))
        assert not any(m.split(".")[0] == "streamlit" for m in imports), name
        if name != "figures":
            assert not any(m.split(".")[0] == "plotly" for m in imports), name
        assert not any(m.startswith("gru_viz.ui") for m in imports), name


def test_the_walker_sees_lazy_and_from_imports(tmp_path):
    """The checks above can fail: a tab importing a sibling inside a function is found."""
    bad = tmp_path / "x_tab.py"
    bad.write_text("def f():\n    from gru_viz.ui.tabs import force\n    import streamlit\n", encoding="utf-8")
    found = imported_modules(bad)
    assert "gru_viz.ui.tabs.force" in found and "streamlit" in found


def test_the_serving_wing_imports_neither_streamlit_nor_the_ui():
    """gru_viz/serve/ (worker, queue, budget, class store) is plain Python, shared by every session's thread."""
    modules = sorted((PACKAGE / "serve").glob("*.py"))
    assert {p.stem for p in modules} >= {"worker", "slots", "budget", "classroom", "memlimit"}
    for path in modules:
        imports = imported_modules(path)
        assert not any(m.split(".")[0] in ("streamlit", "plotly") for m in imports), path.name
        assert not any(m.startswith("gru_viz.ui") for m in imports), path.name
