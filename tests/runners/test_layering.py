"""The commands stay thin: no command module imports another, and none holds measurement logic (they import
the runners and the specs, not the evaluators, pipelines or runtimes)."""

from __future__ import annotations

import ast
from pathlib import Path

import kbench

COMMANDS = Path(kbench.__file__).parent / "commands"
#: What a command module may import from kbench: errors, specs, runners, records/store I/O, progress, the parser.
MEASUREMENT_PACKAGES = ("kbench.evaluators", "kbench.pipelines", "kbench.adapters", "kbench.zoo", "kbench.export",
                        "kbench.datasets")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def test_no_command_imports_another():
    offenders = {p.name: [m for m in _imports(p) if m.startswith("kbench.commands")]
                 for p in COMMANDS.glob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_measurement_commands_go_through_the_runners():
    for name in ("evaluate.py", "latency.py", "profile.py", "conformance.py", "export.py"):
        imports = _imports(COMMANDS / name)
        assert any(m == "kbench.runners" or m.startswith("kbench.runners.") for m in imports), name
        assert not [m for m in imports if m.startswith(MEASUREMENT_PACKAGES)], name
