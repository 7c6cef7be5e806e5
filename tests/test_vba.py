"""vbaProject.bin from source: MS-OVBA compression and the project read back by oletools (independent)."""

from __future__ import annotations

import re
import struct

import olefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oletools.olevba import VBA_Parser, VBA_Project, decompress_stream

from atlas_xl.errors import ArgumentError
from atlas_xl.excel.vba import project as vba


def read_back(project: bytes) -> dict[str, bytes]:
    """{module name: raw source bytes} as oletools decodes them, in strict mode (no spec deviation allowed)."""
    ole = olefile.OleFileIO(project)
    parsed = VBA_Project(ole, "", "PROJECT", "VBA/dir", relaxed=False)
    parsed.parse_project_stream()
    list(parsed.parse_modules())
    return {module.name_str: module.code_raw for module in parsed.modules}


# ---- compression -------------------------------------------------------------------------------


def test_copy_token_length_uses_right_shift() -> None:
    # at 4 bytes into a chunk bit_count is 4: max length (0xFFFF >> 4) + 3 = 4095 + 3 = 4098;
    # at 2049 bytes in, bit_count is 12: (0xFFFF >> 12) + 3 = 15 + 3 = 18
    assert vba._copy_token_shape(4) == (4, 4098)
    assert vba._copy_token_shape(2049) == (12, 18)
    assert vba._copy_token_shape(2048) == (11, 34)  # 2**11 = 2048 >= 2048; 0xFFFF >> 11 = 31


def test_known_small_example() -> None:
    # "aaaaaaaaaa": literal 'a' then one copy token (offset 1, length 9) at position 1 (bit_count 4):
    # token = (1-1) << 12 | (9-3) = 0x0006; flag byte 0b10; chunk = flag + 'a' + token = 4 bytes,
    # header = 0xB000 | (4 + 2 - 3) = 0xB003
    packed = vba.compress(b"a" * 10)
    assert packed == b"\x01" + struct.pack("<H", 0xB003) + b"\x02a" + struct.pack("<H", 0x0006)
    assert decompress_stream(bytearray(packed)) == b"a" * 10


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=20_000))
def test_round_trip_random_bytes(data: bytes) -> None:
    packed = vba.compress(data)
    assert decompress_stream(bytearray(packed)) == data
    assert vba.decompress(packed) == data


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=8),
       st.lists(st.integers(0, 7), max_size=3000))
def test_round_trip_repetitive(pieces: list[bytes], picks: list[int]) -> None:
    data = b"".join(pieces[i % len(pieces)] for i in picks)
    packed = vba.compress(data)
    assert decompress_stream(bytearray(packed)) == data
    if len(data) > 200:
        assert len(packed) < len(data)  # repeats must actually be found


def test_long_runs_cross_chunks_exactly() -> None:
    for data in (b"x" * 4096, b"x" * 4097, b"ab" * 30_000, bytes(range(256)) * 100):
        assert decompress_stream(bytearray(vba.compress(data))) == data


def test_incompressible_tail_is_not_padded() -> None:
    # a full random chunk goes raw (header 0x3FFF); a short random tail is split, never zero-padded
    import random

    data = random.Random(7).randbytes(4096 + 4000)
    packed = vba.compress(data)
    assert packed[1:3] == struct.pack("<H", 0x3FFF)
    assert decompress_stream(bytearray(packed)) == data


# ---- the project --------------------------------------------------------------------------------


def _long_module() -> str:
    body = "\r\n".join(
        f"Public Function Step{i}(ByVal x As Double) As Double\r\n    Step{i} = x * {i} + 1\r\nEnd Function"
        for i in range(400)
    )
    return 'Attribute VB_Name = "LongOne"\r\n' + body + "\r\n"


def _project() -> tuple[dict[str, str], dict[str, str], bytes]:
    modules = {
        "LongOne": _long_module(),
        "Tiny": 'Attribute VB_Name = "Tiny"\r\nSub Hello()\r\n    MsgBox "hi"\r\nEnd Sub\r\n',
    }
    documents = {
        "ThisWorkbook": vba.document_module_source("ThisWorkbook", workbook=True),
        "Sheet1": vba.document_module_source("Sheet1"),
        "Sheet2": vba.document_module_source("Sheet2"),
    }
    return modules, documents, vba.build_vba_project(modules, documents)


def test_every_module_reads_back_byte_for_byte() -> None:
    modules, documents, project = _project()
    assert len(modules["LongOne"]) > 10_000
    back = read_back(project)
    assert set(back) == set(modules) | set(documents)
    for name, source in {**modules, **documents}.items():
        assert back[name] == source.encode("ascii"), name


def test_olevba_sees_the_modules_and_types() -> None:
    modules, documents, project = _project()
    parser = VBA_Parser("vbaProject.bin", data=project)
    found = {name: code for _f, _p, name, code in parser.extract_macros()}
    assert found["LongOne.bas"] == modules["LongOne"]
    assert found["Sheet1.cls"] == documents["Sheet1"]  # document modules are class-like (.cls)


def test_compound_file_layout() -> None:
    _m, _d, project = _project()
    ole = olefile.OleFileIO(project)
    assert sorted("/".join(p) for p in ole.listdir()) == [
        "PROJECT", "PROJECTwm", "VBA/LongOne", "VBA/Sheet1", "VBA/Sheet2", "VBA/ThisWorkbook", "VBA/Tiny",
        "VBA/_VBA_PROJECT", "VBA/dir",
    ]
    assert ole.openstream("VBA/_VBA_PROJECT").read() == struct.pack("<HHBH", 0x61CC, 0xFFFF, 0, 3)
    text = ole.openstream("PROJECT").read().decode("ascii")
    assert "Document=Sheet2/&H00000000\r\n" in text and "Module=LongOne\r\n" in text
    wm = ole.openstream("PROJECTwm").read()
    assert wm.startswith(b"ThisWorkbook\0" + "ThisWorkbook".encode("utf-16-le") + b"\0\0")
    assert wm.endswith(b"\0\0\0\0")


def test_project_protection_fields_decrypt() -> None:
    _m, _d, project = _project()
    text = olefile.OleFileIO(project).openstream("PROJECT").read().decode("ascii")
    fields = dict(line.split("=", 1) for line in text.splitlines() if line[:3] in ("CMG", "DPB", "GC="))
    assert vba._decrypt(fields["CMG"].strip('"')) == bytes(4)  # not protected
    assert vba._decrypt(fields["DPB"].strip('"')) == b"\0"  # no password
    assert vba._decrypt(fields["GC"].strip('"')) == b"\xff"  # visible


def test_same_input_same_bytes() -> None:
    assert _project()[2] == _project()[2]


@pytest.mark.parametrize(
    ("modules", "message"),
    [
        ({"Bad": 'Attribute VB_Name = "Bad"\nSub A()\nEnd Sub\n'}, "CRLF"),
        ({"Bad": 'Attribute VB_Name = "Bad"\r\n\' caf\u00e9\r\n'}, "ASCII"),
        ({"Bad": 'Attribute VB_Name = "Other"\r\n'}, "expected 'Attribute VB_Name"),
        ({"1x": 'Attribute VB_Name = "1x"\r\n'}, "expected a letter"),
        ({"sheet1": 'Attribute VB_Name = "sheet1"\r\n'}, "repeated"),
    ],
)
def test_bad_modules_are_refused(modules: dict[str, str], message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        vba.build_vba_project(modules, {"Sheet1": vba.document_module_source("Sheet1")})


# ---- the operations workbook's project ----------------------------------------------------------


@pytest.fixture(scope="module")
def workbook_modules() -> dict[str, str]:
    from atlas_xl.excel.workbook import SHEETS, vba_project

    project = vba_project(len(SHEETS))
    return {name: code.decode("ascii") for name, code in read_back(project).items()}


def test_workbook_project_modules(workbook_modules: dict[str, str]) -> None:
    from atlas_xl.excel.workbook import SHEETS, macro_module_source, xlwings_module_source

    expected_docs = {"ThisWorkbook", *(f"Sheet{i}" for i in range(1, len(SHEETS) + 1))}
    assert set(workbook_modules) == expected_docs | {"xlwings", "AtlasMacros", "xlwings_udfs"}
    assert workbook_modules["xlwings"] == xlwings_module_source()
    assert workbook_modules["AtlasMacros"] == macro_module_source()


def test_xlwings_module_matches_installed_python_package(workbook_modules: dict[str, str]) -> None:
    import xlwings

    found = re.search(r'Public Const XLWINGS_VERSION As String = "([^"]+)"', workbook_modules["xlwings"])
    assert found and found.group(1) == xlwings.__version__


def _subs(source: str) -> set[str]:
    return set(re.findall(r"^(?:Public |Private )?Sub (\w+)\(", source, flags=re.M))


def test_every_button_macro_is_a_sub(workbook_modules: dict[str, str]) -> None:
    from atlas_xl.excel.workbook import BUTTONS

    subs = set().union(*(_subs(code) for code in workbook_modules.values()))
    assert {b.macro for b in BUTTONS} <= subs


def test_every_runpython_call_names_an_existing_function(workbook_modules: dict[str, str]) -> None:
    import importlib

    from atlas_xl.excel.workbook import BUTTONS

    calls = re.findall(r'RunPython "import ([\w.]+); \1\.(\w+)\(\)"', workbook_modules["AtlasMacros"])
    assert sorted(fn for _m, fn in calls) == sorted(b.python for b in BUTTONS)
    for module, function in calls:
        assert callable(getattr(importlib.import_module(module), function))
    assert workbook_modules["AtlasMacros"].count("RunPython \"") == len(calls)  # no call the regex missed


def test_every_udf_has_its_wrapper(workbook_modules: dict[str, str]) -> None:
    from atlas_xl.excel import udfs

    wrappers = workbook_modules["xlwings_udfs"]
    for name in udfs.UDF_NAMES:
        func = getattr(udfs, name)
        params = list(__import__("inspect").signature(func).parameters)
        header = re.search(rf"^Function {name}\(([^)]*)\)", wrappers, flags=re.M)
        assert header, name
        assert [p.replace("Optional ", "") for p in header.group(1).split(", ") if p] == params
        assert f'XLPy.CallUDF("atlas_xl.excel.udfs", "{name}"' in wrappers
    assert set(re.findall(r"^Function (\w+)\(", wrappers, flags=re.M)) == set(udfs.UDF_NAMES)


def test_windows_stubs_do_not_leak() -> None:
    import sys

    from atlas_xl.excel.workbook import udf_wrapper_source

    udf_wrapper_source()
    assert "pythoncom" not in sys.modules and "xlwings.udfs" not in sys.modules


# ---- every module of the built workbook, read back by olevba and parsed by the antlr4-vba grammar ---------
# antlr4-vba's grammar is MS-VBAL's: conditional compilation (#Const / #If) has its own grammar (vba_cc), and
# a class module is parsed in its exported .cls form (VERSION 1.0 CLASS header); VB_Base and
# VB_TemplateDerived, the Office document-module attributes outside MS-VBAL, are left out of that parse.
OFFICE_ONLY_ATTRIBUTES = ("Attribute VB_Base ", "Attribute VB_TemplateDerived ")
CLASS_HEADER = "VERSION 1.0 CLASS\r\nBEGIN\r\n  MultiUse = -1  'True\r\nEND\r\n"


def grammar_errors(source: str, cc: bool = False) -> list[str]:
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.error.ErrorListener import ErrorListener

    if cc:
        from antlr4_vba.vba_ccLexer import vba_ccLexer as Lexer
        from antlr4_vba.vba_ccParser import vba_ccParser as Parser
    else:
        from antlr4_vba.vbaLexer import vbaLexer as Lexer
        from antlr4_vba.vbaParser import vbaParser as Parser

    class Collect(ErrorListener):
        def __init__(self) -> None:
            self.errors: list[str] = []

        def syntaxError(self, recognizer, symbol, line, column, msg, e) -> None:  # noqa: N802, ANN001
            self.errors.append(f"line {line}:{column} {msg}")

    found = Collect()
    lexer = Lexer(InputStream(source))
    lexer.removeErrorListeners()
    lexer.addErrorListener(found)
    parser = Parser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(found)
    parser.startRule()
    return found.errors


PLATFORMS = {"Windows 64-bit": {"VBA7": True, "WIN64": True, "MAC": False, "MAC_OFFICE_VERSION": 0},
             "Windows 32-bit": {"VBA7": True, "WIN64": False, "MAC": False, "MAC_OFFICE_VERSION": 0},
             "macOS": {"VBA7": True, "WIN64": True, "MAC": True, "MAC_OFFICE_VERSION": 16}}


def compiled_branches(source: str, consts: dict[str, object]) -> str:
    """The code VBA compiles for these #Const values: #If / #ElseIf / #Else / #End If evaluated, the lines of
    inactive branches and the directives blanked (line numbers stay)."""
    values = {k.upper(): v for k, v in consts.items()}
    stack: list[tuple[bool, bool]] = []  # (this branch active, some branch already taken)
    out = []

    def value(expr: str) -> bool:
        expr = re.sub(r"\bNot\b", " not ", expr, flags=re.I)
        expr = re.sub(r"\bAnd\b", " and ", expr, flags=re.I)
        expr = re.sub(r"\bOr\b", " or ", expr, flags=re.I)
        expr = re.sub(r"<>|<=|>=|=", lambda m: {"<>": "!=", "=": "=="}.get(m.group(), m.group()), expr)
        expr = re.sub(r"\b([A-Za-z_]\w*)\b", lambda m: m.group(1) if m.group(1) in ("not", "and", "or")
                      else repr(values.get(m.group(1).upper(), False)), expr)
        return bool(eval(expr))  # noqa: S307 - our own module's #If conditions, names replaced by literals

    for line in source.splitlines(keepends=True):
        active = all(a for a, _ in stack)
        directive = re.match(r"\s*#(If|ElseIf|Else|End If|Const)\b(.*?)(\bThen\b)?\s*('.*)?$", line.rstrip("\r\n"),
                             flags=re.I)
        if directive is None:
            out.append(line if active else "\r\n")
            continue
        word, rest = directive.group(1).lower(), directive.group(2)
        if word == "if":
            taken = value(rest)
            stack.append((taken, taken))
        elif word == "elseif":
            _, done = stack.pop()
            taken = not done and value(rest)
            stack.append((taken, done or taken))
        elif word == "else":
            _, done = stack.pop()
            stack.append((not done, True))
        elif word == "end if":
            stack.pop()
        elif active:
            key, _, expr = rest.partition("=")
            values[key.strip().upper()] = value(expr) if '"' not in expr else expr.strip().strip('"')
        out.append("\r\n")
    assert not stack, "an #If without #End If"
    return "".join(out)


def module_errors(name: str, source: str, platforms: tuple[str, ...] = tuple(PLATFORMS)) -> list[str]:
    """Syntax errors of one module: its conditional compilation (vba_cc grammar), then the code VBA compiles
    on each platform (default: Windows 64 / 32-bit, macOS) and, for a class module, in its .cls form."""
    errors = grammar_errors(source, cc=True)
    if errors:
        return errors
    for platform in platforms:
        consts = PLATFORMS[platform]
        code = compiled_branches(source, consts)
        if name.endswith(".cls"):
            code = CLASS_HEADER + "".join(line for line in code.splitlines(keepends=True)
                                          if not line.startswith(OFFICE_ONLY_ATTRIBUTES))
        errors += [f"{platform}: {e}" for e in grammar_errors(code)]
    return errors


@pytest.fixture(scope="module")
def built_modules(repo_root) -> dict[str, str]:  # noqa: ANN001
    """{file name: code} of the committed (fresh, see test_workbook_template) workbook, as olevba reads it."""
    path = repo_root / "workbook_templates" / "atlas_operations.xlsm"
    parser = VBA_Parser(str(path))
    return {name: code for _f, _s, name, code in parser.extract_macros()}


def test_every_module_of_the_workbook_parses(built_modules: dict[str, str]) -> None:
    from atlas_xl.excel.workbook import SHEETS

    assert {"xlwings.bas", "AtlasMacros.bas", "xlwings_udfs.bas", "ThisWorkbook.cls"} <= set(built_modules)
    assert sum(name.startswith("Sheet") for name in built_modules) == len(SHEETS)
    assert "Function ATLAS_PAYOUT(" in built_modules["xlwings_udfs.bas"]  # the wrappers are really there
    for name, code in built_modules.items():
        if name != "xlwings.bas":  # xlwings' own module: test_xlwings_module_parses (slow)
            assert module_errors(name, code) == [], name


@pytest.mark.slow
def test_xlwings_module_parses(built_modules: dict[str, str]) -> None:
    """xlwings.bas (46 KB, the installed xlwings' own, see test_xlwings_module_matches_installed_python_package)
    needs full-LL prediction: ~40 s per platform on an idle core with the Python ANTLR runtime (608 s for all
    three on a loaded CI machine). Parsed for Windows 64-bit only, the platform the workbook is used on: its
    #If blocks are also checked for every platform by the conditional-compilation grammar (vba_cc), and
    nothing is cached (a cache keyed on the file would hide a changed grammar or runtime)."""
    assert module_errors("xlwings.bas", built_modules["xlwings.bas"], platforms=("Windows 64-bit",)) == []


def test_a_broken_module_fails_the_parse(built_modules: dict[str, str]) -> None:
    good = built_modules["AtlasMacros.bas"]
    assert module_errors("AtlasMacros.bas", good) == []
    broken = good.replace("Sub AtlasRefreshAll()", "Sub AtlasRefreshAll(", 1)
    assert module_errors("AtlasMacros.bas", broken)
    # a VBA keyword as a parameter name (what `def f(date)` made xlwings generate) does not compile either
    assert module_errors("x.bas", 'Attribute VB_Name = "x"\r\nFunction F(date)\r\nEnd Function\r\n')
    assert module_errors("x.bas", 'Attribute VB_Name = "x"\r\n#If VBA7 Then\r\nSub A(\r\n#End If\r\n')


def test_every_button_macro_exists_in_the_file(repo_root) -> None:  # noqa: ANN001
    """The buttons' macros read from the file's own VML, the subs from olevba's reading of the same file."""
    import zipfile

    path = repo_root / "workbook_templates" / "atlas_operations.xlsm"
    with zipfile.ZipFile(path) as archive:
        vml = b"".join(archive.read(n) for n in archive.namelist() if n.endswith(".vml"))
    bound = [m.decode() for m in re.findall(rb"<x:FmlaMacro>\[0\]!(\w+)</x:FmlaMacro>", vml)]
    assert len(bound) == 6
    parser = VBA_Parser(str(path))
    subs = set().union(*(_subs(code) for _f, _s, _n, code in parser.extract_macros()))
    assert set(bound) <= subs
