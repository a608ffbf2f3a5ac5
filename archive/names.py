"""Names the product writes: portable file names, XML-safe text and XML-safe identifiers.

Three rules, each used everywhere it applies:

* :func:`portable_name` makes any string (a post id, a URL suffix) into one file or folder
  name that is valid and distinct on every common file system (Linux, macOS, Windows,
  case-insensitive disks): ASCII letters, digits, ``_``, ``-`` and ``.`` only, never a
  Windows device name (``CON``, ``aux.txt``), never a trailing dot or space, never ``.``/``..``,
  at most 255 bytes, and a short hash of the exact original so two ids that differ only in
  case (or in characters that were replaced) never meet. No name needs escaping in a BagIt
  manifest (no ``%``, CR or LF). The original is kept in metadata by the caller.
* :func:`xml_escape_text` / :func:`xml_unescape_text`: the one reversible escape for the
  characters XML 1.0 cannot hold (C0 controls other than TAB, LF and CR; U+FFFE, U+FFFF),
  used by every XML export (GraphML, GEXF, PROV-XML via PROV-JSON). Such a character is
  written as ``␛`` (U+241B) followed by its code point in four hex digits (BEL is ``␛0007``);
  a ``␛`` already in the text is written ``␛241B``. Everything else is kept as it is.
* :func:`xml_name` maps a string to an XML ``NCName`` (the local part of a QName, used for
  PROV-XML ids), reversibly: every character other than ASCII letters, digits, ``.`` and
  ``-`` (and a first character that is not a letter) becomes ``_XX`` per UTF-8 byte.

Examples
--------
>>> portable_name("sora:video_68d7/x")
'sora_video_68d7_x-4ff711bb35c3'
>>> xml_unescape_text(xml_escape_text("bell\\x07")) == "bell\\x07"
True
>>> xml_name("t:1"), xml_name_decode(xml_name("t:1"))
('t_3A1', 't:1')
"""
from __future__ import annotations

import hashlib
import re

__all__ = [
    "RESERVED",
    "MAX_NAME_BYTES",
    "portable_name",
    "portable_suffix",
    "is_portable",
    "xml_escape_text",
    "xml_unescape_text",
    "escape_chars",
    "ONE_LINE",
    "NEWICK_NAME",
    "XML_ESCAPE",
    "xml_name",
    "xml_name_decode",
    "is_nmtoken",
]

#: Windows device names: reserved as a file name with or without an extension, in any case
RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)
MAX_NAME_BYTES = 255
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_STEM_MAX = 80


def _hash(s: str, n: int = 12) -> str:
    return hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def portable_name(original: str, *, max_stem: int = _STEM_MAX) -> str:
    """A file or folder name for ``original`` that is portable and distinct (see the module doc).

    The name is a readable ASCII stem (other characters become ``_``, at most ``max_stem``
    characters) and ``-`` with 12 hex digits of the sha256 of the exact original, so it is
    the same on every run and never equal, even ignoring case, for two different originals.

    Examples
    --------
    >>> portable_name("CON"), portable_name(".."), portable_name("w:A").lower() != portable_name("w:a").lower()
    ('_CON-a3dbc4b644a9', '_-5ec1f7e700f3', True)
    >>> len(portable_name("x:" + "y" * 500).encode())
    93
    """
    stem = _UNSAFE.sub("_", original)[:max_stem].strip(". ")
    if not stem or stem.split(".", 1)[0].upper().rstrip(" ") in RESERVED:
        stem = "_" + stem
    return f"{stem}-{_hash(original)}"


def portable_suffix(url_path: str, *, max_len: int = 8) -> str:
    """The file extension to keep from a URL or path: ``.`` and up to ``max_len`` ASCII letters/digits, else ``""``.

    Examples
    --------
    >>> portable_suffix("/v/clip.mp4"), portable_suffix("/clip.mp4%0A"), portable_suffix("/c.mp4:ads"), portable_suffix("/x")
    ('.mp4', '.mp4', '.mp4', '')
    """
    name = url_path.rsplit("/", 1)[-1]
    if "." not in name:
        return ""
    m = re.match(r"[A-Za-z0-9]+", name.rsplit(".", 1)[1])
    return "." + m.group(0)[:max_len].lower() if m else ""


def is_portable(name: str) -> bool:
    """Whether one path component is portable: safe characters, not reserved, no trailing dot/space, <= 255 bytes.

    Examples
    --------
    >>> [is_portable(n) for n in ("a.txt", "aux.txt", "trail.", "a|b", "..", "x" * 256)]
    [True, False, False, False, False, False]
    """
    return (bool(name) and name not in (".", "..") and not _UNSAFE.search(name)
            and not name.endswith((".", " ")) and len(name.encode("utf-8")) <= MAX_NAME_BYTES
            and name.split(".", 1)[0].upper() not in RESERVED)


# ---------------------------------------------------------------------- XML text
#: the escape character of :func:`xml_escape_text` (U+241B SYMBOL FOR ESCAPE)
XML_ESCAPE = "\u241b"
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\u241b]")
_XML_ESC = re.compile("\u241b([0-9A-Fa-f]{4})")


def xml_escape_text(s: str) -> str:
    """``s`` with every character XML 1.0 cannot hold written as ``␛XXXX`` (and ``␛`` itself as ``␛241B``).

    TAB, LF and CR are legal in XML and are kept (the writers emit them as character
    references where XML would otherwise change them).

    Examples
    --------
    >>> xml_escape_text("a\\x07b\\x1b[31m␛\\tc")
    'a␛0007b␛001B[31m␛241B\\tc'
    """
    if not _XML_BAD.search(s):
        return s
    return _XML_BAD.sub(lambda m: f"{XML_ESCAPE}{ord(m.group(0)):04X}", s)


#: what a one-line text (a bag-info value) cannot hold: C0 (CR, LF, TAB too), DEL, C1 (NEL), U+2028/U+2029, ``␛``
ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u241b]")
#: what a Newick name is written without: the one-line set and ``'`` (some readers, ete among them, cannot
#: read the standard's doubled quote)
NEWICK_NAME = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u241b']")


def escape_chars(s: str, chars: re.Pattern[str]) -> str:
    """``s`` with every character matched by ``chars`` written as ``␛XXXX`` (undone by :func:`xml_unescape_text`).

    The same escape as :func:`xml_escape_text`, for a different set of characters
    (:data:`ONE_LINE` for tag files, :data:`NEWICK_NAME` for Newick names).

    Examples
    --------
    >>> escape_chars("it's" + chr(13) + chr(10), NEWICK_NAME)
    'it␛0027s␛000D␛000A'
    >>> xml_unescape_text(escape_chars("it's" + chr(13), NEWICK_NAME)) == "it's" + chr(13)
    True
    """
    return chars.sub(lambda m: f"{XML_ESCAPE}{ord(m.group(0)):04X}", s) if chars.search(s) else s


def xml_unescape_text(s: str) -> str:
    """The inverse of :func:`xml_escape_text`.

    Examples
    --------
    >>> xml_unescape_text("a␛0007b␛241B")
    'a\\x07b␛'
    """
    if XML_ESCAPE not in s:
        return s
    return _XML_ESC.sub(lambda m: chr(int(m.group(1), 16)), s)


# ---------------------------------------------------------------------- XML names
_NC_BAD = re.compile(r"[^A-Za-z0-9.\-]+")
_NMTOKEN = re.compile(r"^[A-Za-z0-9._:\-\u00b7\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u037d\u037f-\u1fff\u200c\u200d"
                      r"\u203f\u2040\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd"
                      r"\U00010000-\U000effff\u0300-\u036f]+$")


def xml_name(s: str) -> str:
    """``s`` as an XML NCName (reversible, see :func:`xml_name_decode`).

    Examples
    --------
    >>> xml_name("t:tab\\tid"), xml_name("9x"), xml_name("a_b")
    ('t_3Atab_09id', '_39x', 'a_5Fb')
    """
    if not s:
        return "_"
    head = s[0] if s[0].isascii() and s[0].isalpha() else _hex_bytes(s[0])
    return head + _NC_BAD.sub(lambda m: _hex_bytes(m.group(0)), s[1:])


def _hex_bytes(s: str) -> str:
    return "".join(f"_{b:02X}" for b in s.encode("utf-8", "surrogatepass"))


def xml_name_decode(name: str) -> str:
    """The string :func:`xml_name` was made from.

    Examples
    --------
    >>> xml_name_decode("t_3Atab_09id")
    't:tab\\tid'
    """
    if name == "_":
        return ""
    out = bytearray()
    i = 0
    while i < len(name):
        if name[i] == "_" and re.match(r"[0-9A-F]{2}", name[i + 1:i + 3]):
            out.append(int(name[i + 1:i + 3], 16))
            i += 3
        else:
            out += name[i].encode("utf-8")
            i += 1
    return out.decode("utf-8", "surrogatepass")


def is_nmtoken(s: str) -> bool:
    """Whether ``s`` is an XML NMTOKEN (what GraphML requires of node ids).

    Examples
    --------
    >>> is_nmtoken("t:1"), is_nmtoken("t:tab\\tid"), is_nmtoken("")
    (True, False, False)
    """
    return bool(_NMTOKEN.match(s))
