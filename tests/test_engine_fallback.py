"""Where durable-rules cannot be imported (Python 3.13 and later), podeploy says so once and runs on the reference
evaluator with the same results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"

WITHOUT_DURABLE = (
    "import sys; sys.modules['durable'] = None; sys.modules['durable.engine'] = None\n"
    "from podeploy.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def run(*args: str, hide_durable: bool) -> subprocess.CompletedProcess[str]:
    code = WITHOUT_DURABLE if hide_durable else "import sys\nfrom podeploy.cli.main import main\nmain(sys.argv[1:])\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def test_missing_durable_rules_is_said_once_and_the_reference_evaluator_answers() -> None:
    done = run("evaluate", str(CONTOSO), "--format", "json", hide_durable=True)
    assert done.returncode == 0
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert done.stderr == (
        f"podeploy: durable-rules cannot be imported on Python {version}; using the reference evaluator\n"
    )
    fallback = json.loads(done.stdout)
    assert fallback["engine"] == "reference"

    normal = json.loads(run("evaluate", str(CONTOSO), "--format", "json", hide_durable=False).stdout)
    assert normal.pop("engine") == "durable"
    fallback.pop("engine")
    assert fallback == normal


def test_asking_for_durable_rules_where_it_cannot_be_imported_is_an_error() -> None:
    done = run("evaluate", str(CONTOSO), "--engine", "durable", hide_durable=True)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "podeploy: error: durable-rules cannot be imported on this Python; use --engine reference\n"
