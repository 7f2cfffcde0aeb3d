"""PrestaShop request bodies: the Webservice reads XML only (a JSON body is refused).

`document("product", fields)` renders `<prestashop><product>…</product></prestashop>`; a value
that is a mapping is a multilingual field (`{language id: text}` → `<language id="1">…`).
`parse_document` reads such a body back (the sandbox uses it; so do the contract tests).
Shapes follow the blank schemas in PrestaShop/docs `webservice/resources/*.md`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

XLINK = "http://www.w3.org/1999/xlink"

#: XML 1.0 cannot carry these characters at all, escaped or not; SimpleXML refuses the body.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: What a Webservice field name looks like (and all an XML element name needs to be here).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class XmlValueError(ValueError):
    """A value cannot travel in an XML body (it holds characters XML 1.0 forbids)."""


def document(element: str, fields: Mapping[str, Any]) -> bytes:
    """The body of a POST/PUT/PATCH for one object of the resource whose element is `element`."""
    root = ET.Element("prestashop", {"xmlns:xlink": XLINK})
    node = ET.SubElement(root, element)
    for name, value in fields.items():
        # A PUT echoes the shop's own field names back; ElementTree writes a tag name as it
        # is, so one like `a><id>7</id><b` would rewrite the document. Only plain names pass.
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise XmlValueError(f"field name {name!r:.40} cannot be an XML element")
        child = ET.SubElement(node, name)
        if isinstance(value, Mapping):
            for lang_id, text in value.items():
                ET.SubElement(child, "language", {"id": str(lang_id)}).text = _text(name, text)
        else:
            child.text = _text(name, value)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    if _ILLEGAL.search(text):
        raise XmlValueError(f"{name} holds control characters an XML body cannot carry")
    return text


def parse_document(body: bytes) -> tuple[str, dict[str, Any]]:
    """(element name, fields) of a one-object body; multilingual fields come back as dicts.

    `associations` is returned as `{association: [{field: text}]}`. Raises ET.ParseError (or
    ValueError) for anything that is not such a document.
    """
    root = ET.fromstring(body)
    if root.tag != "prestashop":
        raise ValueError(f"root element is <{root.tag}>, not <prestashop>")
    children = list(root)
    if len(children) != 1:
        raise ValueError(f"expected one object under <prestashop>, found {len(children)}")
    node = children[0]
    fields: dict[str, Any] = {}
    for child in node:
        if child.tag == "associations":
            fields["associations"] = {
                assoc.tag: [{f.tag: (f.text or "") for f in item} for item in assoc]
                for assoc in child
            }
        elif len(child) and all(grand.tag == "language" for grand in child):
            fields[child.tag] = {grand.get("id", ""): grand.text or "" for grand in child}
        else:
            fields[child.tag] = child.text or ""
    return node.tag, fields
