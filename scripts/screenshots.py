"""Make the README pictures from the bundled example data.

    python scripts/screenshots.py

- docs/dashboard_overview.png: the HTML dashboard (atlas-xl run) in headless Chromium (/usr/bin/chromium,
  driven by Playwright, every non-file request refused).
- docs/excel_dashboard.png: the report's Dashboard sheet rendered by LibreOffice headless to PDF (first
  page only), then to PNG with pdftoppm (poppler-utils).
Needs: Debian packages chromium, libreoffice-calc, poppler-utils; the Python package playwright.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
CHROMIUM = Path("/usr/bin/chromium")


class Missing(RuntimeError):
    """A program the pictures need is not installed."""


def need(program: str) -> str:
    found = shutil.which(program)
    if not found:
        raise Missing(f"{program!r} is not installed; expected it on PATH (see this script's docstring)")
    return found


def replace_atomically(source: Path, target: Path) -> None:
    """Copy beside the target, then rename: the picture in docs/ is either the old one or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, staged)
    os.replace(staged, target)


def run_report(out: Path) -> tuple[Path, Path]:
    from atlas_xl.cli.app import main

    os.chdir(REPO)  # so the page and the report name the data as "example_data", not an absolute path
    code = main(["run", "--data", "example_data", "--out", str(out)])
    if code != 0:
        raise RuntimeError(f"atlas-xl run failed with exit status {code}")
    return next(out.glob("atlas-report-*.xlsx")), out / "dashboard.html"


def dashboard_png(html: Path, png: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise Missing(f"{CHROMIUM} is missing; install Debian's chromium package")
    refused: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1360, "height": 1080})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
                   else (refused.append(r.request.url), r.abort()))
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready=yes]")
        page.screenshot(path=str(png))
        browser.close()
    if refused:
        raise RuntimeError(f"the dashboard tried to reach the network: {refused}")


def excel_png(report: Path, png: Path, work: Path) -> None:
    soffice = need("soffice")
    pdftoppm = need("pdftoppm")
    # Only the first page (the Dashboard sheet, printed on one landscape page); a private profile so a
    # running LibreOffice cannot interfere.
    export = 'pdf:calc_pdf_Export:' + json.dumps({"PageRange": {"type": "string", "value": "1"}})
    profile = (work / "lo-profile").as_uri()
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", export,
                    "--outdir", str(work), str(report)], check=True, capture_output=True, timeout=300)
    pdf = work / (report.stem + ".pdf")
    if not pdf.exists():
        raise RuntimeError(f"LibreOffice wrote no PDF for {report.name}")
    # Crop the page margins away: at 110 dpi the KPI block and the six charts sit in this box (A4 landscape).
    crop = ["-x", "60", "-y", "95", "-W", "1075", "-H", "590"]
    subprocess.run([pdftoppm, "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", *crop, str(pdf),
                    str(png.with_suffix(""))], check=True, capture_output=True, timeout=120)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="atlas-shots-") as tmp:
        work = Path(tmp)
        try:
            report, html = run_report(work / "run")
            dashboard_png(html, work / "dashboard_overview.png")
            excel_png(report, work / "excel_dashboard.png", work)
        except (Missing, RuntimeError, subprocess.SubprocessError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        for name in ("dashboard_overview.png", "excel_dashboard.png"):
            replace_atomically(work / name, DOCS / name)
            print(f"wrote {DOCS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
