"""The workbook's VBA modules compile: a headless LibreOffice opens the .xlsm with macros enabled and calls
the probe function `AtlasProbe_<Module>()` of each of our modules (atlas_xl.excel.workbook.probe_function)
through the script provider (vnd.sun.star.script:VBAProject.<Module>.AtlasProbe_<Module>...).

LibreOffice swallows compile errors: a module that does not compile answers nothing (an empty string, or
no value at all), so anything but the module's own name fails. It compiles a document's VBA library as a
whole, and it cannot compile xlwings' own `xlwings.bas` (written for Excel's VBA, with Windows API
`Declare`s; which statement LibreOffice rejects is not pinned down here): in the workbook as built, EVERY probe
answers empty (asserted below, so the day LibreOffice learns to compile it this test says so). Our modules
(AtlasMacros, the generated xlwings_udfs wrappers, ThisWorkbook and the ten sheet modules) are therefore
probed in a copy of the workbook whose VBA project is the same minus the xlwings module; xlwings.bas itself
is checked by the grammar parse in tests/test_vba.py. A copy with a deliberately broken AtlasMacros shows
that the probe fails.

The probe runs under Debian's /usr/bin/python3 (python3-uno belongs to it) as a subprocess; this test starts
soffice itself (own profile, --headless --invisible --norestore, a named pipe) and kills its process group
at the end whatever happens. A missing soffice or python3-uno fails the test (never a skip): .ci/run
installs libreoffice-calc-nogui, python3-uno and libreoffice-script-provider-python.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from atlas_xl.excel import workbook as wb
from atlas_xl.excel.vba.project import build_vba_project, document_module_source

SOFFICE = Path("/usr/bin/soffice")
DEBIAN_PYTHON = Path("/usr/bin/python3")
SHEET_MODULES = [f"Sheet{i}" for i in range(1, len(wb.SHEETS) + 1)]
OUR_MODULES = ["AtlasMacros", "xlwings_udfs", "ThisWorkbook", *SHEET_MODULES]

PROBE = r'''
import json, sys, time
import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException


def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


connect, spec = sys.argv[1], json.loads(sys.argv[2])
local = uno.getComponentContext()
resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
deadline = time.monotonic() + 45
while True:
    try:
        ctx = resolver.resolve(f"uno:{connect};urp;StarOffice.ComponentContext")
        break
    except NoConnectException:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
out = {}
for path, modules in spec.items():
    # MacroExecutionMode 4 = ALWAYS_EXECUTE_NO_WARN
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(path), "_blank", 0,
                                       (prop("Hidden", True), prop("MacroExecutionMode", 4)))
    answers = {}
    provider = doc.getScriptProvider()
    for module in modules:
        uri = f"vnd.sun.star.script:VBAProject.{module}.AtlasProbe_{module}?language=Basic&location=document"
        try:
            value = provider.getScript(uri).invoke((), (), ())[0]
            answers[module] = value if isinstance(value, str) else repr(value)
        except Exception as error:
            answers[module] = f"ERROR {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    libraries = doc.BasicLibraries
    libraries.loadLibrary("VBAProject")
    answers["(modules)"] = sorted(libraries.getByName("VBAProject").getElementNames())
    out[path] = answers
    doc.close(True)
print(json.dumps(out))
try:
    desktop.terminate()
except Exception:
    pass
'''


def with_project(source: Path, target: Path, drop: tuple[str, ...] = (), replace: dict[str, str] | None = None) -> Path:
    """A copy of `source` whose vbaProject.bin is the builder's project minus `drop`, with `replace`d modules."""
    modules = {"xlwings": wb.xlwings_module_source(), "AtlasMacros": wb.macro_module_source(),
               "xlwings_udfs": wb.udf_wrapper_source() + wb.probe_function("xlwings_udfs")}
    documents = {"ThisWorkbook": document_module_source("ThisWorkbook", workbook=True)
                 + wb.probe_function("ThisWorkbook")}
    documents |= {name: document_module_source(name) + wb.probe_function(name) for name in SHEET_MODULES}
    with zipfile.ZipFile(source) as archive:
        assert archive.read("xl/vbaProject.bin") == build_vba_project(modules, documents), \
            "the template's VBA project is not the builder's: rebuild the template"
        for name in drop:
            modules.pop(name)
        modules |= replace or {}
        project = build_vba_project(modules, documents)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for info in archive.infolist():
                out.writestr(info, project if info.filename == "xl/vbaProject.bin" else archive.read(info.filename))
    return target


def probe(tmp_path: Path, spec: dict[Path, list[str]]) -> dict[str, dict[str, object]]:
    """Start soffice, run the probe under Debian's Python, kill soffice's process group."""
    assert SOFFICE.exists(), f"{SOFFICE} is missing: apt-get install libreoffice-calc-nogui (see .ci/run)"
    check = subprocess.run([DEBIAN_PYTHON, "-c", "import uno"], capture_output=True, text=True, check=False)
    assert check.returncode == 0, f"{DEBIAN_PYTHON} cannot import uno: apt-get install python3-uno ({check.stderr})"
    pipe = f"atlas_probe_{os.getpid()}_{time.monotonic_ns()}"
    profile = tmp_path / "lo-profile"
    soffice = subprocess.Popen(
        [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible", "--norestore",
         "--nologo", "--nodefault", "--nolockcheck", f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # a clean environment: Debian's Python must not pick up this virtualenv's packages
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        done = subprocess.run([DEBIAN_PYTHON, "-c", PROBE, f"pipe,name={pipe}",
                               json.dumps({str(p): m for p, m in spec.items()})],
                              capture_output=True, text=True, timeout=150, env=env, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return {Path(p).name: answers for p, answers in json.loads(done.stdout.splitlines()[-1]).items()}
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group this test started: wrapper and soffice.bin
            os.killpg(soffice.pid, signal.SIGKILL)
        soffice.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def test_every_module_compiles_in_libreoffice(tmp_path: Path, repo_root: Path) -> None:
    template = repo_root / "workbook_templates" / "atlas_operations.xlsm"
    full = tmp_path / "full.xlsm"
    shutil.copy(template, full)
    ours = with_project(template, tmp_path / "ours.xlsm", drop=("xlwings",))
    good = wb.macro_module_source()
    assert "Sub AtlasRefreshAll()" in good
    broken = with_project(template, tmp_path / "broken.xlsm", drop=("xlwings",),
                          replace={"AtlasMacros": good.replace("Sub AtlasRefreshAll()", "Sub AtlasRefreshAll(", 1)})
    answers = probe(tmp_path, {full: ["AtlasMacros", "xlwings_udfs", "ThisWorkbook", "Sheet1"],
                               ours: OUR_MODULES, broken: ["AtlasMacros"]})

    # our modules: each compiles and answers its own name
    assert answers["ours.xlsm"].pop("(modules)") == sorted(OUR_MODULES)
    assert answers["ours.xlsm"] == {module: module for module in OUR_MODULES}
    # the workbook as built: LibreOffice imports every module, xlwings.bas included, but cannot compile
    # xlwings.bas and then runs nothing of the library (empty answers, no error raised)
    assert answers["full.xlsm"].pop("(modules)") == sorted([*OUR_MODULES, "xlwings"])
    assert answers["full.xlsm"] == {"AtlasMacros": "", "xlwings_udfs": "", "ThisWorkbook": "", "Sheet1": ""}
    # a syntax error in AtlasMacros: its probe answers no value (None), so the check above would fail
    assert answers["broken.xlsm"]["AtlasMacros"] == "None"


@pytest.mark.parametrize("missing", ["soffice", "python"])
def test_a_missing_libreoffice_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    if missing == "soffice":
        monkeypatch.setattr(f"{__name__}.SOFFICE", tmp_path / "no-soffice")
    else:
        monkeypatch.setattr(f"{__name__}.DEBIAN_PYTHON", Path(shutil.which("python") or "python"))
    with pytest.raises(AssertionError, match="missing|cannot import uno"):
        probe(tmp_path, {})
