"""The console entry point: what a real process prints and exits with, now that it leaves by os._exit."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from podeploy import __version__
from podeploy.console import exit_status, flushed

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


def test_functions_registered_with_atexit_still_run() -> None:
    """A sitecustomize, a plugin or a library may register work for the exit: it runs before os._exit."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "from podeploy.console import main\n"
        "main(['evaluate', sys.argv[1]])\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(CONTOSO)], capture_output=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, b"atexit ran\n")
    assert done.stdout.startswith(b"Customer: Contoso\n")


def test_batch_joins_its_workers_and_writes_its_summary(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    done = run("batch", str(CONTOSO), str(ROOT / "examples" / "tailspin-psa.yaml"), "--out", str(out), "--jobs", "2")
    assert done.returncode == 0
    assert done.stderr.decode().startswith("batch: 2 inputs in ")
    assert [line.split(b'"status":')[1][:4] for line in out.read_bytes().splitlines()] == [b'"ok"', b'"ok"']



LOST = b"podeploy: cannot write the output: standard output is closed\n"


@pytest.mark.parametrize(("args", "redirect", "status", "stderr"), [
    ("--version", ">&-", 1, LOST),
    ("evaluate missing.yaml", "2>&-", 2, b""),
    ("evaluate examples/contoso.yaml", ">&-", 1, LOST),
    ("batch examples/contoso.yaml --jobs 1", ">&-", 1, None),
    ("evaluate examples/contoso.yaml --output {tmp}/out.txt", ">&-", 0, b""),
])
def test_output_to_a_closed_standard_output_fails_as_other_tools_do(
    args: str, redirect: str, status: int, stderr: bytes | None, tmp_path: Path
) -> None:
    """Started with stdout closed (`>&-`), what was to be printed is lost: exit 1 and say so, as `cat` does.
    Stderr closed (`2>&-`) changes nothing; output written to a file is not lost."""
    done = subprocess.run(["sh", "-c", f'"$0" -m podeploy {args.format(tmp=tmp_path)} {redirect}', sys.executable],
                          cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode == status
    if stderr is None:  # batch writes its summary first
        assert done.stderr.endswith(LOST) and b"Traceback" not in done.stderr
    else:
        assert done.stderr == stderr


# `podeploy evaluate FACTS` in which reading the facts breaks a pipe of podeploy's own.
OWN_PIPE_BREAKS = (
    "import sys\n"
    "import podeploy.engine.facts.reading as facts\n"
    "def broken(*args, **kwargs):\n"
    "    raise BrokenPipeError(32, 'Broken pipe')\n"
    "facts.read_facts = broken\n"
    "from podeploy.console import main as run\n"
    "run(['evaluate', sys.argv[1]])\n"
)


def test_a_pipe_of_podeploys_own_that_breaks_is_an_error_not_a_reader_gone_away() -> None:
    """Only a closed standard output means `| head`: any other broken pipe must not end the run quietly."""
    done = subprocess.run([sys.executable, "-c", OWN_PIPE_BREAKS, str(CONTOSO)], capture_output=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == b""
    assert done.stderr == (b"podeploy: internal error: BrokenPipeError: [Errno 32] Broken pipe "
                           b"(set PODEPLOY_DEBUG=1 for details)\n")


def test_a_broken_stderr_pipe_is_a_reader_gone_away_too() -> None:
    """`podeploy batch ... 2>&1 >/dev/null | true`: the summary's reader is gone; exit 0, quietly."""
    script = 'set -o pipefail; "$0" -m podeploy batch examples/*.yaml --jobs 1 2>&1 >/dev/null | true'
    for _ in range(3):
        done = subprocess.run(["bash", "-c", script, sys.executable], cwd=ROOT, capture_output=True, timeout=120)
        assert (done.returncode, done.stderr) == (0, b"")


def test_a_socket_reader_that_closes_is_a_reader_gone_away(tmp_path: Path) -> None:
    """Stdout a socket (as some process runners give): its reader closing shows as a hang-up, not an error."""
    import shutil
    import socket

    for i in range(120):
        shutil.copy(CONTOSO, tmp_path / f"customer-{i:03d}.yaml")
    ours, theirs = socket.socketpair()
    process = subprocess.Popen([sys.executable, "-m", "podeploy", "batch", str(tmp_path), "--jobs", "1"],
                               stdout=theirs.fileno(), stderr=subprocess.PIPE)
    theirs.close()
    assert ours.recv(4096)
    ours.close()
    assert process.stderr is not None
    error = process.stderr.read()
    assert (process.wait(timeout=120), error) == (0, b"")


def test_podeploy_debug_shows_the_traceback_of_a_broken_pipe_of_its_own() -> None:
    env = {**os.environ, "PODEPLOY_DEBUG": "1"}
    done = subprocess.run([sys.executable, "-c", OWN_PIPE_BREAKS, str(CONTOSO)], capture_output=True, timeout=60,
                          env=env)
    assert done.returncode == 1
    assert b"Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith(b"BrokenPipeError: [Errno 32] Broken pipe")
