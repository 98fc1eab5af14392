"""``examples/ci/kbench-gate.yml``: valid YAML, and every kbench command in it parses with today's options."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from kbench.cli import build_parser

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "ci" / "kbench-gate.yml"


def _commands() -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"]
    found = []
    for step in steps:
        script = re.sub(r"\\\n\s*(#\s*)?", " ", step.get("run", ""))  # join continued (and commented) lines
        for line in script.splitlines():
            line = line.strip().lstrip("#").strip()          # commented alternatives must stay valid too
            if line.startswith("kbench "):
                found.append(re.sub(r"\s+", " ", line.replace('"$MODEL"', "tinypose_128x96")
                                    .replace("$MODEL", "tinypose_128x96")))
    return found


def test_workflow_runs_eval_latency_profile_and_gate():
    subcommands = [c.split()[1] for c in _commands()]
    assert {"eval", "latency", "profile", "gate"} <= set(subcommands)
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in doc[True]                         # YAML 1.1 reads the key `on` as True


@pytest.mark.parametrize("command", _commands())
def test_command_parses(command):
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.handler
