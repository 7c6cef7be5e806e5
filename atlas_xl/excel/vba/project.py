"""Building a macro project (`vbaProject.bin`) from VBA source text, without Excel.

Three layers, each from its Microsoft specification:
- MS-OVBA 2.4.1 compression of the module sources and the `dir` stream (`compress` / `decompress`);
- the MS-OVBA project streams: PROJECT (text), PROJECTwm, VBA/_VBA_PROJECT, VBA/dir, one stream per module;
- a minimal MS-CFB (compound file, version 3, 512-byte sectors) writer that holds them.

The project carries no compiled cache (`_VBA_PROJECT` version 0xFFFF, module text offset 0), which the
spec prescribes for writers: Office compiles the source when the workbook is opened.
Everything is deterministic (fixed project id, seed and timestamps) so a rebuilt workbook is identical.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from atlas_xl.errors import ArgumentError

# --------------------------------------------------------------------------------------------------
# MS-OVBA 2.4.1 compression
# --------------------------------------------------------------------------------------------------

CHUNK = 4096  # decompressed bytes per chunk
_MAX_CHAIN = 256  # candidates tried per position: bounds the time on long repetitive inputs


def _copy_token_shape(distance_from_chunk_start: int) -> tuple[int, int]:
    """(bit_count, maximum length) of a copy token at this position in the chunk (MS-OVBA 2.4.1.3.19.1).

    bit_count is the smallest n >= 4 with 2**n >= distance; the maximum length is
    (0xFFFF >> bit_count) + 3 (the ms-ovba 0.0.1 package computes 0xFFFF << bit_count + 3: wrong).
    """
    bit_count = max((distance_from_chunk_start - 1).bit_length(), 4)
    return bit_count, (0xFFFF >> bit_count) + 3


def _compress_chunk(data: bytes, start: int, end: int) -> bytes:
    """Token sequences for data[start:end] (at most 4096 bytes), greedy longest match."""
    out = bytearray()
    chains: dict[bytes, list[int]] = {}
    cur = start
    indexed = start  # positions < indexed are in `chains`

    def index_up_to(stop: int) -> None:
        nonlocal indexed
        while indexed < stop:
            if indexed + 3 <= end:
                chains.setdefault(data[indexed:indexed + 3], []).append(indexed)
            indexed += 1

    while cur < end:
        flag_at = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if cur >= end:
                break
            best_len, best_pos = 0, -1
            if cur + 3 <= end and cur > start:
                bit_count, max_len = _copy_token_shape(cur - start)
                limit = min(max_len, end - cur)
                candidates = chains.get(data[cur:cur + 3], ())
                for pos in reversed(candidates[-_MAX_CHAIN:]):
                    length = 3
                    while length < limit and data[pos + length] == data[cur + length]:
                        length += 1
                    if length > best_len:
                        best_len, best_pos = length, pos
                        if length == limit:
                            break
            if best_len >= 3:
                token = ((cur - best_pos - 1) << (16 - bit_count)) | (best_len - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                index_up_to(cur + best_len)
                cur += best_len
            else:
                out.append(data[cur])
                index_up_to(cur + 1)
                cur += 1
        out[flag_at] = flags
    return bytes(out)


def compress(data: bytes) -> bytes:
    """MS-OVBA CompressedContainer of `data` (signature byte 0x01, then chunks of 4096 input bytes).

    A chunk whose tokens would exceed 4096 bytes is stored raw when it is a full chunk (the spec's
    RawChunk). A short final chunk cannot be stored raw without the spec's zero padding changing the
    text, so it is split into two compressed chunks instead (the decompressor accepts chunks of any
    decompressed size up to 4096); each half fits, so the output always decompresses to `data` exactly.
    """
    out = bytearray(b"\x01")
    pos = 0
    while pos < len(data):
        end = min(pos + CHUNK, len(data))
        pieces = [(pos, end)]
        tokens = _compress_chunk(data, pos, end)
        if len(tokens) > CHUNK:
            if end - pos == CHUNK:
                out += struct.pack("<H", 0x3FFF) + data[pos:end]  # size 4098, flag 0: raw
                pos = end
                continue
            mid = pos + (end - pos) // 2
            pieces = [(pos, mid), (mid, end)]
        for a, b in pieces:
            body = tokens if (a, b) == (pos, end) else _compress_chunk(data, a, b)
            out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body
        pos = end
    return bytes(out)


def decompress(container: bytes) -> bytes:
    """MS-OVBA 2.4.1.3.1 decompression (used to check our own output; oletools is the independent one)."""
    if not container or container[0] != 0x01:
        raise ArgumentError(f"compressed container starts with {container[:1]!r}; expected signature 0x01")
    out = bytearray()
    pos = 1
    while pos < len(container):
        header = struct.unpack_from("<H", container, pos)[0]
        size = (header & 0x0FFF) + 3
        if (header >> 12) & 0x7 != 0b011:
            raise ArgumentError(f"chunk header {header:#06x} at byte {pos}; expected signature 0b011")
        end = min(pos + size, len(container))
        pos += 2
        if not header & 0x8000:
            out += container[pos:pos + CHUNK]
            pos += CHUNK
            continue
        chunk_start = len(out)
        while pos < end:
            flags = container[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if flags & (1 << bit):
                    token = struct.unpack_from("<H", container, pos)[0]
                    pos += 2
                    bit_count, _ = _copy_token_shape(len(out) - chunk_start)
                    length = (token & (0xFFFF >> bit_count)) + 3
                    offset = (token >> (16 - bit_count)) + 1
                    for _ in range(length):  # byte by byte: a copy may overlap its own output
                        out.append(out[-offset])
                else:
                    out.append(container[pos])
                    pos += 1
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# MS-CFB compound file writer (version 3)
# --------------------------------------------------------------------------------------------------

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF

Tree = Mapping[str, "bytes | Tree"]


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    black: bool = True
    start: int = ENDOFCHAIN
    size: int = 0


def _cfb_key(name: str) -> tuple[int, str]:
    # MS-CFB 2.6.4: shorter names sort first, then code points of the upper-cased names
    return len(name), name.upper()


def _link_siblings(entries: list[_Entry], ids: list[int]) -> int:
    """A balanced red-black tree of one storage's children; returns the root id.

    Built by splitting at the middle: all leaves sit at depth d or d-1, so colouring exactly the
    depth-d nodes red (never the root) keeps the same number of black nodes on every path.
    """
    ids = sorted(ids, key=lambda i: _cfb_key(entries[i].name))
    depth_of: dict[int, int] = {}

    def build(lo: int, hi: int, depth: int) -> int:
        if lo >= hi:
            return NOSTREAM
        mid = (lo + hi) // 2
        node = ids[mid]
        depth_of[node] = depth
        entries[node].left = build(lo, mid, depth + 1)
        entries[node].right = build(mid + 1, hi, depth + 1)
        return node

    root = build(0, len(ids), 0)
    deepest = max(depth_of.values(), default=0)
    for node, depth in depth_of.items():
        entries[node].black = not (deepest > 0 and depth == deepest)
    return root


def _sectors(n_bytes: int, size: int = SECTOR) -> int:
    return -(-n_bytes // size)


def write_compound_file(tree: Tree) -> bytes:
    """A compound file holding `tree` ({name: bytes for a stream | nested mapping for a storage})."""
    entries = [_Entry("Root Entry", 5)]

    def add(parent: int, subtree: Tree) -> None:
        for name, value in subtree.items():
            if not 0 < len(name) <= 31 or any(c in name for c in "/\\:!"):
                raise ArgumentError(
                    f"compound-file entry name {name!r}; expected 1-31 characters without / \\ : !"
                )
            entries.append(_Entry(name, 2, bytes(value)) if isinstance(value, bytes | bytearray)
                           else _Entry(name, 1))
            me = len(entries) - 1
            entries[parent].children.append(me)
            if not isinstance(value, bytes | bytearray):
                add(me, value)

    add(0, tree)
    for entry in entries:
        if entry.kind != 2:
            entry.child = _link_siblings(entries, entry.children) if entry.children else NOSTREAM

    # Small streams go to the mini stream (64-byte sectors, chained in the mini FAT).
    mini_stream, mini_fat = bytearray(), list[int]()
    big_streams: list[_Entry] = []
    for entry in entries:
        if entry.kind != 2:
            continue
        entry.size = len(entry.data)
        if entry.size == 0:
            entry.start = ENDOFCHAIN
        elif entry.size < MINI_CUTOFF:
            first = len(mini_fat)
            count = _sectors(entry.size, MINI_SECTOR)
            mini_fat += list(range(first + 1, first + count)) + [ENDOFCHAIN]
            entry.start = first
            mini_stream += entry.data.ljust(count * MINI_SECTOR, b"\0")
        else:
            big_streams.append(entry)

    n_dir = _sectors(len(entries) * 128)
    n_minifat = _sectors(len(mini_fat) * 4)
    n_mini = _sectors(len(mini_stream))
    n_content = n_dir + n_minifat + n_mini + sum(_sectors(e.size) for e in big_streams)
    n_fat = 1
    while n_fat * (SECTOR // 4) < n_fat + n_content:
        n_fat += 1
    if n_fat > 109:
        raise ArgumentError(f"compound file of {n_content} sectors is too large; expected under 7 MB")

    fat = [FATSECT] * n_fat
    blobs: list[bytes] = []

    def place(blob: bytes) -> int:
        first = len(fat)
        count = _sectors(len(blob))
        fat.extend(list(range(first + 1, first + count)) + [ENDOFCHAIN])
        blobs.append(bytes(blob).ljust(count * SECTOR, b"\0"))
        return first

    dir_start_index = len(blobs)  # directory is written last (needs every start sector) but placed first
    dir_first = len(fat)
    fat.extend(list(range(dir_first + 1, dir_first + n_dir)) + [ENDOFCHAIN])
    blobs.append(b"")
    minifat_first = ENDOFCHAIN
    if mini_fat:
        minifat_bytes = struct.pack(f"<{len(mini_fat)}I", *mini_fat)
        minifat_bytes += struct.pack("<I", FREESECT) * (n_minifat * SECTOR // 4 - len(mini_fat))
        minifat_first = place(minifat_bytes)
        entries[0].start = place(bytes(mini_stream))
        entries[0].size = len(mini_stream)
    for entry in big_streams:
        entry.start = place(entry.data)

    directory = bytearray()
    for entry in entries:
        name = entry.name.encode("utf-16-le") + b"\0\0"
        directory += struct.pack(
            "<64sHBBIII16sIQQIQ", name, len(name), entry.kind, 1 if entry.black else 0,
            entry.left, entry.right, entry.child, b"\0" * 16, 0, 0, 0,
            entry.start if entry.kind != 1 else 0, entry.size,
        )
    while len(directory) < n_dir * SECTOR:  # unused entries: no name, no siblings
        directory += struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM,
                                 b"\0" * 16, 0, 0, 0, 0, 0)
    blobs[dir_start_index] = bytes(directory)

    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    fat_bytes += struct.pack("<I", FREESECT) * (n_fat * SECTOR // 4 - len(fat))
    difat = list(range(n_fat)) + [FREESECT] * (109 - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"), b"\0" * 16, 0x003E, 0x0003, 0xFFFE, 9, 6, b"\0" * 6,
        0, n_fat, dir_first, 0, MINI_CUTOFF, minifat_first, n_minifat if mini_fat else 0, ENDOFCHAIN, 0,
    ) + struct.pack("<109I", *difat)
    return header + fat_bytes + b"".join(blobs)


# --------------------------------------------------------------------------------------------------
# MS-OVBA project streams
# --------------------------------------------------------------------------------------------------

CODEPAGE = 1252
PROJECT_NAME = "VBAProject"
# Fixed so that the same sources give the same file (Office only needs it to be a GUID).
PROJECT_ID = "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:atlas-settlement:vba-project")).upper() + "}"
_SEED = 0x4A  # seed of the PROJECT stream's data encryption; any byte is valid
STDOLE_LIBID = (
    "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\\Windows\\System32\\stdole2.tlb#OLE Automation"
)
WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,30}")


def document_module_source(name: str, workbook: bool = False) -> str:
    """The source Excel itself stores for an empty ThisWorkbook / sheet document module."""
    base = WORKBOOK_BASE if workbook else WORKSHEET_BASE
    lines = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "{base}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return "\r\n".join(lines) + "\r\n"


def vba_text(text: str) -> str:
    """Normalise line ends to CRLF, the only line end the VBA editor stores."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _encrypt(data: bytes, seed: int = _SEED) -> str:
    """MS-OVBA 2.4.3.2 data encryption (CMG / DPB / GC values of the PROJECT stream), as hex."""
    version = 2
    proj_key = sum(PROJECT_ID.encode("ascii")) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ proj_key])
    unencrypted_1, encrypted_1, encrypted_2 = proj_key, seed ^ proj_key, seed ^ version

    def push(byte: int) -> None:
        nonlocal unencrypted_1, encrypted_1, encrypted_2
        enc = byte ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        out.append(enc)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, enc, byte

    for _ in range((seed & 6) // 2):  # ignored bytes; their value is free
        push(0)
    for byte in struct.pack("<I", len(data)) + data:
        push(byte)
    return out.hex().upper()


def _decrypt(hex_text: str) -> bytes:
    """Inverse of `_encrypt` (MS-OVBA 2.4.3.3), for tests."""
    raw = bytes.fromhex(hex_text)
    seed, _version_enc, proj_key_enc = raw[0], raw[1], raw[2]
    unencrypted_1, encrypted_1, encrypted_2 = seed ^ proj_key_enc, proj_key_enc, raw[1]
    plain = bytearray()
    for enc in raw[3:]:
        byte = enc ^ ((encrypted_2 + unencrypted_1) & 0xFF)
        plain.append(byte)
        encrypted_2, encrypted_1, unencrypted_1 = encrypted_1, enc, byte
    ignored = (seed & 6) // 2
    length = struct.unpack_from("<I", plain, ignored)[0]
    return bytes(plain[ignored + 4: ignored + 4 + length])


def _record(rec_id: int, payload: bytes) -> bytes:
    return struct.pack("<HI", rec_id, len(payload)) + payload


def _double_string(rec_id: int, reserved: int, text: str) -> bytes:
    # record with an MBCS copy and a UTF-16 copy of the same text (MS-OVBA 2.3.4.2)
    return _record(rec_id, text.encode("cp1252")) + _record(reserved, text.encode("utf-16-le"))


def _dir_stream(documents: list[str], modules: list[str]) -> bytes:
    out = bytearray()
    out += _record(0x0001, struct.pack("<I", 3))  # SysKind: 64-bit Windows (recompiled on open anyway)
    out += _record(0x0002, struct.pack("<I", 0x0409))  # LCID
    out += _record(0x0014, struct.pack("<I", 0x0409))  # LCID invoke
    out += _record(0x0003, struct.pack("<H", CODEPAGE))
    out += _record(0x0004, PROJECT_NAME.encode("cp1252"))
    out += _double_string(0x0005, 0x0040, "")  # doc string
    out += _double_string(0x0006, 0x003D, "")  # help file
    out += _record(0x0007, struct.pack("<I", 0))  # help context
    out += _record(0x0008, struct.pack("<I", 0))  # lib flags
    out += struct.pack("<HIIH", 0x0009, 4, 1, 0)  # version: Reserved=4, major 1, minor 0
    out += _double_string(0x000C, 0x003C, "")  # conditional-compilation constants
    # reference to OLE Automation (stdole), which every Office VBA project carries
    out += _double_string(0x0016, 0x003E, "stdole")
    libid = STDOLE_LIBID.encode("cp1252")
    out += _record(0x000D, struct.pack("<I", len(libid)) + libid + struct.pack("<IH", 0, 0))
    names = documents + modules
    out += _record(0x000F, struct.pack("<H", len(names)))
    out += _record(0x0013, struct.pack("<H", 0xFFFF))  # project cookie
    for name in names:
        out += _record(0x0019, name.encode("cp1252"))
        out += _record(0x0047, name.encode("utf-16-le"))
        out += _double_string(0x001A, 0x0032, name)  # stream name = module name
        out += _double_string(0x001C, 0x0048, "")  # doc string
        out += _record(0x0031, struct.pack("<I", 0))  # text offset: no performance cache
        out += _record(0x001E, struct.pack("<I", 0))  # help context
        out += _record(0x002C, struct.pack("<H", 0xFFFF))  # cookie
        out += struct.pack("<HI", 0x0022 if name in documents else 0x0021, 0)  # type: document / procedural
        out += struct.pack("<HI", 0x002B, 0)  # module terminator
    out += struct.pack("<HI", 0x0010, 0)  # dir terminator
    return bytes(out)


def _project_stream(documents: list[str], modules: list[str]) -> bytes:
    lines = [f'ID="{PROJECT_ID}"']
    lines += [f"Document={name}/&H00000000" for name in documents]
    lines += [f"Module={name}" for name in modules]
    lines += [
        f'Name="{PROJECT_NAME}"',
        'HelpContextID="0"',
        'VersionCompatible32="393222000"',
        f'CMG="{_encrypt(bytes(4))}"',  # protection state: none
        f'DPB="{_encrypt(bytes(1))}"',  # password: none (a single 0x00)
        f'GC="{_encrypt(bytes([0xFF]))}"',  # visibility: visible
        "",
        "[Host Extender Info]",
        "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
        "",
        "[Workspace]",
    ]
    lines += [f"{name}=0, 0, 0, 0, C" for name in documents + modules]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def _projectwm_stream(names: list[str]) -> bytes:
    out = bytearray()
    for name in names:
        out += name.encode("cp1252") + b"\0" + name.encode("utf-16-le") + b"\0\0"
    return bytes(out + b"\0\0")


def _check_module(name: str, source: str) -> bytes:
    if not _IDENTIFIER.fullmatch(name):
        raise ArgumentError(f"VBA module name {name!r}; expected a letter then up to 30 letters, digits or _")
    if not source.isascii():
        bad = next(c for c in source if not c.isascii())
        raise ArgumentError(f"VBA module {name} contains {bad!r}; expected ASCII text only")
    if re.search(r"(?<!\r)\n|\r(?!\n)", source):
        raise ArgumentError(f"VBA module {name} has bare CR or LF line ends; expected CRLF (see vba_text)")
    first = source.split("\r\n", 1)[0]
    if first != f'Attribute VB_Name = "{name}"':
        raise ArgumentError(
            f"VBA module {name} starts with {first[:60]!r}; expected 'Attribute VB_Name = \"{name}\"'"
        )
    return source.encode("ascii")


def build_vba_project(modules: Mapping[str, str], document_modules: Mapping[str, str]) -> bytes:
    """A `vbaProject.bin` holding standard `modules` and `document_modules` ({name: source}).

    Sources are stored byte for byte: ASCII, CRLF line ends, first line `Attribute VB_Name = "<name>"`.
    Document module names must match the workbook's code names (ThisWorkbook, Sheet1..N).
    """
    documents, standard = list(document_modules), list(modules)
    lowered = [n.lower() for n in documents + standard]
    repeated = sorted({n for n in lowered if lowered.count(n) > 1} | ({"dir"} & set(lowered)))
    if repeated:
        raise ArgumentError(f"module name(s) {repeated} repeated or reserved; expected unique names "
                            "(VBA names are case-insensitive; 'dir' is the project's own stream)")
    streams: dict[str, bytes] = {}
    for name, source in [*document_modules.items(), *modules.items()]:
        streams[name] = compress(_check_module(name, source))
    vba_storage: dict[str, bytes] = {
        "_VBA_PROJECT": struct.pack("<HHBH", 0x61CC, 0xFFFF, 0x00, 0x0003),  # no performance cache
        "dir": compress(_dir_stream(documents, standard)),
        **streams,
    }
    return write_compound_file({
        "PROJECT": _project_stream(documents, standard),
        "PROJECTwm": _projectwm_stream(documents + standard),
        "VBA": vba_storage,
    })
