"""Run records: plain JSON written at the end of every chapter run.

A record holds ``chapter``, ``profile``, ``seed``, ``wall_s``, ``code_hash`` (the chapter's
code cells), ``lib_hash`` and ``lib_modules`` (each ``relubook`` module the kernel imported,
with its hash), ``versions`` and ``claims``. ``full`` records are committed as
``data/claims/<chapter>.json``; ``smoke`` records go to ``build/claims/``.

The format is described once, by the JSON Schema ``record.schema.json`` beside this module.
:func:`validate` checks every field against it and then recomputes, from the stored values,
each check's outcome and each claim's verdict, so a hand-edited record cannot carry a typed
verdict. An error names the file and the field: ``data/claims/01_spline_init.json:
claims[2].checks[0].value: 'x' is not of type 'number'``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema

from . import paths
from .claims import Check, verdict

__all__ = ["CLAIM_FIELDS", "NONFINITE", "REQUIRED", "SCHEMA_PATH", "RecordError", "build_path",
           "code_cells", "code_hash", "combined_hash", "committed_path", "display_path",
           "field_path", "load", "module_hashes", "schema", "sha256_bytes", "validate"]

#: The record format, described once: a JSON Schema (draft 2020-12) beside this module.
SCHEMA_PATH = Path(__file__).with_name("record.schema.json")
#: How non-finite floats are stored in a record (JSON has no NaN or infinity).
NONFINITE = ["nan", "inf", "-inf"]


def schema() -> dict:
    """The record format as a JSON Schema (draft 2020-12): ``record.schema.json`` here."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


#: Fields every record and every claim has (from the schema).
REQUIRED = tuple(schema()["required"])
CLAIM_FIELDS = tuple(schema()["$defs"]["claim"]["required"])


class RecordError(ValueError):
    """A record that is missing, unreadable or malformed; ``errors`` lists every problem."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = list(errors) if errors is not None else [message]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_cells(nb: dict) -> list[str]:
    """Sources of the code cells that define the chapter (papermill's injected cell excluded)."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell.get("source", "")
        out.append("".join(src) if isinstance(src, list) else src)
    return out


def code_hash(notebook: Path) -> str:
    """Hash of a notebook's code cells; outputs, metadata and Markdown do not count."""
    try:
        nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"notebook {notebook} does not exist") from None
    except json.JSONDecodeError as e:
        raise RecordError(f"notebook {notebook} is not valid JSON: {e}") from None
    return sha256_bytes(json.dumps(code_cells(nb)).encode())


def module_hashes(modules: Iterable[str], root: Path | None = None) -> dict[str, str | None]:
    """``{"relubook/core/mlp.py": sha256}`` for paths relative to ``lib/``; None if missing."""
    base = paths.lib_dir(root).parent
    out = {}
    for rel in sorted(set(modules)):
        f = base / rel
        out[rel] = sha256_bytes(f.read_bytes()) if f.is_file() else None
    return out


def combined_hash(hashes: dict[str, str | None]) -> str:
    return sha256_bytes(json.dumps(sorted(hashes.items())).encode())


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    s = schema()
    cls = jsonschema.validators.validator_for(s)
    cls.check_schema(s)
    return cls(s)


def field_path(parts: Iterable[str | int]) -> str:
    """A JSON path as it is written in messages: ``claims[2].checks[0].value``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p):
            out += f".{p}" if out else p
        else:
            out += f"[{json.dumps(p)}]"
    return out


def _schema_message(e: jsonschema.ValidationError) -> tuple[list, str]:
    path = list(e.absolute_path)
    if e.validator == "required":
        missing = [k for k in e.validator_value if k not in e.instance]
        named = [k for k in missing if e.message == f"{k!r} is a required property"]
        return path + (named or missing)[:1], "required field is missing"
    if e.validator == "enum" and list(e.validator_value) == NONFINITE:
        return path, (f"{e.instance!r} is not of type 'number' (a non-finite number is stored "
                      "as 'nan', 'inf' or '-inf')")
    return path, e.message


def _order(e: jsonschema.ValidationError) -> tuple:
    """Most relevant first: the shallowest error, then the earliest in the record."""
    path = [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in e.absolute_path]
    return (len(path), path, e.validator in ("anyOf", "oneOf"))


def _number(v: Any) -> Any:
    return float(v) if isinstance(v, str) and v in NONFINITE else v


def _rebuild(d: dict) -> Check:
    thr = d["threshold"]
    thr = tuple(_number(t) for t in thr) if isinstance(thr, list) else _number(thr)
    return Check(d["name"], _number(d["value"]), d["op"], thr, d["unit"])


def _semantic_errors(rec: dict) -> list[tuple[list, str]]:
    """Outcomes and verdicts recomputed from the checks (the record passed the schema)."""
    errors: list[tuple[list, str]] = []
    ids = [c["id"] for c in rec["claims"]]
    for i, c in enumerate(rec["claims"]):
        at = ["claims", i]
        if ids.index(c["id"]) != i:
            errors.append((at + ["id"], f"claim id {c['id']!r} appears more than once"))
        names = [k["name"] for k in c["checks"]]
        for j, n in enumerate(names):
            if names.index(n) != j:
                errors.append((at + ["checks", j, "name"],
                               f"check name {n!r} appears more than once in claim {c['id']}"))
        built: dict[tuple, Check | None] = {}
        slots = [(("checks", j), k) for j, k in enumerate(c["checks"])]
        slots += [(("note_checks", j), k) for j, k in enumerate(c["note_checks"])]
        if c["refutation"] is not None:
            slots.append((("refutation",), c["refutation"]))
        for where, k in slots:
            try:
                b = _rebuild(k)
            except (TypeError, ValueError) as e:
                errors.append((at + list(where), f"not a valid check: {e}"))
                built[where] = None
                continue
            built[where] = b
            if b.passed != k["passed"]:
                errors.append((at + list(where) + ["passed"],
                               (f"{k['passed']!r} is not the outcome of {b.measured} against "
                                f"the rule {b.rule} (recomputed: {b.passed!r})")))
        checks = [built[("checks", j)] for j in range(len(c["checks"]))]
        refutation = built.get(("refutation",))
        if any(b is None for b in checks) or (c["refutation"] is not None and refutation is None):
            continue
        # Stored outcomes that differ from the recomputed ones are reported above; the
        # verdict is the one rule (claims.verdict) applied to the recomputed outcomes.
        want = verdict(checks, refutation)
        if c["verdict"] != want:
            errors.append((at + ["verdict"],
                           (f"{c['verdict']!r} is not the verdict its checks give ({want!r}): "
                            "verdicts are computed, never typed")))
    return errors


def validate(rec: object, source: str = "record") -> dict:
    """Check a loaded record against :func:`schema`, then recompute outcomes and verdicts.

    Every check's ``passed`` must be the outcome of its value, comparison and threshold, and
    every claim's ``verdict`` must be :func:`relubook.pipeline.claims.verdict` of its checks'
    outcomes and its refutation. Returns the record.

    Raises
    ------
    RecordError
        ``"<source>: <field path>: <what is wrong>"`` for the most relevant error (the
        shallowest, then the earliest in the record), with the number of further errors;
        :attr:`RecordError.errors` holds every message, most relevant first.
    """
    found = list(_validator().iter_errors(rec))
    if found:
        errors = [_schema_message(e) for e in sorted(found, key=_order)]
    else:
        errors = _semantic_errors(rec)  # type: ignore[arg-type]
    if errors:
        msgs = [f"{source}: {field_path(p) or '(record)'}: {m}" for p, m in errors]
        more = f" (and {len(msgs) - 1} more error{'s' if len(msgs) > 2 else ''})" \
            if len(msgs) > 1 else ""
        raise RecordError(msgs[0] + more, msgs)
    return rec  # type: ignore[return-value]


def load(path: Path) -> dict:
    """Read and validate a record, with a clear error for a missing or corrupt file."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"no record at {path}; run the chapter to create it "
                          "(relubook run <chapter> --profile full)")
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RecordError(f"{display_path(path)} is corrupt (not valid JSON: {e}); "
                          "re-run the chapter") from None
    return validate(rec, display_path(path))


def display_path(path: Path, root: Path | None = None) -> str:
    """``path`` relative to the repository root when it lies inside it (for messages)."""
    try:
        return Path(path).resolve().relative_to((root or paths.repo_root()).resolve()).as_posix()
    except ValueError:
        return str(path)


def committed_path(chapter: str, root: Path | None = None) -> Path:
    return paths.claims_dir(root) / f"{chapter}.json"


def build_path(chapter: str, profile: str, root: Path | None = None) -> Path:
    return paths.build_dir(root) / "claims" / f"{chapter}.{profile}.json"
