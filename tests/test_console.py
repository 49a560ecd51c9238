"""The console entry point: what a real process prints and exits with, now that it leaves by os._exit."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from podeploy import __version__
from podeploy.console import exit_status, flushed, needs_normal_exit

ROOT = Path(__file__).resolve().parent.parent
CONTOSO = ROOT / "examples" / "contoso.yaml"


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "podeploy", *args], capture_output=True, timeout=60, **kwargs)  # type: ignore[call-overload,no-any-return]


def test_the_installed_script_is_the_console_entry_point() -> None:
    script = Path(sysconfig.get_path("scripts")) / "podeploy"
    if not script.exists():
        pytest.skip("podeploy is not installed as a script in this environment")
    assert "from podeploy.console import main" in script.read_text(encoding="utf-8")
    done = subprocess.run([str(script), "--version"], capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"podeploy, version {__version__}\n".encode(), b"")


def test_output_is_complete_when_the_process_leaves_early() -> None:
    """Everything printed reaches a pipe: os._exit follows a flush."""
    done = run("evaluate", str(CONTOSO), "--format", "json")
    assert done.returncode == 0
    assert done.stderr == b""
    assert done.stdout.endswith(b"}\n")
    assert done.stdout.count(b"\n") > 40


def test_bad_input_still_exits_2_with_its_line() -> None:
    done = run("evaluate", "missing.yaml", cwd=ROOT)
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr == b"missing.yaml:1:1: not-found: no such file\n"


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    """`podeploy why ... | head -1`: the first line, exit 0, nothing on stderr."""
    reader, writer = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "podeploy", "why", str(CONTOSO)], stdout=writer, stderr=subprocess.PIPE
    )
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        first = pipe.readline()
    assert process.stderr is not None
    error = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert first == b"Customer: Contoso\n"
    assert error == b""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_reported_and_fails() -> None:
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [sys.executable, "-m", "podeploy", "evaluate", str(CONTOSO)],
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr == b"podeploy: cannot write the output: No space left on device\n"


def test_exit_status_follows_python() -> None:
    assert exit_status(None) == 0
    assert exit_status(0) == 0
    assert exit_status(2) == 2
    assert exit_status(130) == 130


def test_exit_status_of_a_message_is_1_and_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_status("podeploy: stopped") == 1
    assert capsys.readouterr().err == "podeploy: stopped\n"


def test_flushed_keeps_the_status_when_streams_flush() -> None:
    assert flushed(0) == 0
    assert flushed(2) == 2


def test_worker_processes_get_the_normal_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "multiprocessing", raising=False)
    monkeypatch.setattr("weakref.finalize._registered_with_atexit", False)
    assert not needs_normal_exit()
    monkeypatch.setitem(sys.modules, "multiprocessing", sys)
    assert needs_normal_exit()


def test_a_profiler_gets_the_normal_exit_and_writes_its_results(tmp_path: Path) -> None:
    profile = tmp_path / "evaluate.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "podeploy", "--version"],
                          capture_output=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, b"")
    assert profile.stat().st_size > 0


def test_finalizers_get_the_normal_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "multiprocessing", raising=False)
    monkeypatch.setattr("weakref.finalize._registered_with_atexit", True)
    assert needs_normal_exit()


def test_batch_runs_to_its_summary_through_the_normal_exit(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run("batch", str(CONTOSO), str(ROOT / "examples" / "tailspin-psa.yaml"), "--out", str(out), "--jobs", "2")
    assert done.returncode == 0
    assert done.stderr.decode().startswith("batch: 2 inputs in ")
    assert [line.split(b'"status":')[1][:4] for line in out.read_bytes().splitlines()] == [b'"ok"', b'"ok"']



@pytest.mark.parametrize(("args", "redirect", "status"), [
    ("--version", ">&-", 0),
    ("evaluate missing.yaml", "2>&-", 2),
    ("evaluate examples/contoso.yaml", ">&-", 0),
])
def test_a_closed_standard_stream_changes_nothing_else(args: str, redirect: str, status: int) -> None:
    """Started with stdout or stderr closed (`>&-`, `2>&-`): the same exit status, and no traceback."""
    done = subprocess.run(["sh", "-c", f'"$0" -m podeploy {args} {redirect}', sys.executable],
                          cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == status
    assert b"Traceback" not in done.stdout + done.stderr


def test_a_pipe_of_podeploys_own_that_breaks_is_an_error_not_a_reader_gone_away() -> None:
    """Only a closed standard output means `| head`: any other broken pipe must not end the run quietly."""
    code = (
        "import sys\n"
        "import podeploy.cli.main as main\n"
        "def broken(*args, **kwargs):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "main.load_facts = broken\n"
        "sys.argv = ['podeploy', 'evaluate', sys.argv[1]]\n"
        "from podeploy.console import main as run\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(CONTOSO)], capture_output=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr == (b"podeploy: internal error: BrokenPipeError: [Errno 32] Broken pipe "
                           b"(set PODEPLOY_DEBUG=1 for details)\n")
