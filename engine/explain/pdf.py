"""The report as a PDF, printed by the system's headless Chromium from the self-contained HTML.

Chromium lays the report out exactly as a consultant sees it in a browser and honours the report's
print stylesheet (A4 or Letter pages, page one on its own page, no words broken). It is a system
package on every platform podeploy supports (Debian: `apt-get install chromium`); set
PODEPLOY_CHROMIUM to use another build. The HTML loads nothing (its content security policy allows
only its own style and embedded images), and Chromium runs with a throwaway profile, without
network services, in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ..errors import PodeployError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT = 180  # seconds: a report prints in one or two on a loaded machine


class PdfError(PodeployError):
    """The PDF could not be printed; exit status 1."""


def chromium() -> str:
    """The Chromium to print with: PODEPLOY_CHROMIUM, or the first on PATH."""
    chosen = os.environ.get("PODEPLOY_CHROMIUM")
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise PdfError(f"PODEPLOY_CHROMIUM={chosen} is not an executable file")
        return chosen
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError(
        "--format pdf prints the report with headless Chromium, which is not installed "
        "(Debian: apt-get install chromium; or set PODEPLOY_CHROMIUM); --format html gives the same report"
    )


def html_to_pdf(page: str) -> bytes:
    """Print a self-contained HTML page to PDF bytes."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="podeploy-pdf-") as work:
        source = os.path.join(work, "report.html")
        target = os.path.join(work, "report.pdf")
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(page)
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--disable-quic", f"--user-data-dir={os.path.join(work, 'profile')}",
            "--no-pdf-header-footer", f"--print-to-pdf={target}", "file://" + source,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=TIMEOUT, check=False, env={**os.environ, "HOME": work}
            )
        except subprocess.TimeoutExpired:
            raise PdfError(f"Chromium ({browser}) did not print the report within {TIMEOUT} s") from None
        except OSError as exc:
            raise PdfError(f"cannot run Chromium ({browser}): {exc.strerror or exc}") from None
        try:
            with open(target, "rb") as handle:
                data = handle.read()
        except OSError:
            data = b""
        if done.returncode != 0 or not data.startswith(b"%PDF"):
            errors = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
            detail = f": {errors[-1][:300]}" if errors else ""
            raise PdfError(f"Chromium ({browser}) did not print the report (exit status {done.returncode}){detail}")
        return data
