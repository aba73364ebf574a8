"""`JsonRecord`: the one way a typed record is read from and written to its JSON file.

A run's `transfer.json` (`training.record.TransferRecord`), `compare.json` (`comparison.state.CompareState`) and
`auto.json` (`strategy.auto.state.AutoState`) are dataclasses on this base: `load()` (under their `read()`) is their
only reader (a one-line `UserError` when the file is missing or damaged), `to_dict()` what is written; keys of
other versions are kept in `extra` and written back unchanged, so a read and a write never lose information.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

from yolo_transfer.errors import UserError

R = TypeVar("R", bound="JsonRecord")


class JsonRecord:
    """Mixin for a dataclass with an `extra: dict` field; `FILE` is the file name inside its folder and `WHAT` says
    what the record is in an error ("transfer record")."""

    FILE: ClassVar[str]
    WHAT: ClassVar[str]
    NESTED: ClassVar[tuple[str, ...]] = ()  # fields `from_dict` leaves to the subclass (lists of typed items)

    @classmethod
    def path(cls, folder: str | os.PathLike) -> Path:
        return Path(folder) / cls.FILE

    @classmethod
    def exists(cls, folder: str | os.PathLike) -> bool:
        return cls.path(folder).is_file()

    @classmethod
    def from_dict(cls: type[R], d: Mapping[str, Any]) -> R:
        known = {f.name for f in fields(cls)} - {"extra"}  # type: ignore[arg-type]
        rec = cls(**{k: v for k, v in d.items() if k in known and k not in cls.NESTED})
        rec.extra = {k: v for k, v in d.items() if k not in known}  # type: ignore[attr-defined]
        return rec

    @classmethod
    def load(cls: type[R], folder: str | os.PathLike, missing: str | None = None, damaged: str = "") -> R:
        """The record in `folder`. `missing`: the message when there is none (default: the read error); `damaged`:
        what to do when it is not readable JSON."""
        p = cls.path(folder)
        if missing is not None and not p.is_file():
            raise UserError(missing)
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"{p}: not a readable {cls.WHAT} ({e}){damaged}") from None
        if not isinstance(d, dict):
            raise UserError(f"{p}: not a {cls.WHAT} (expected a JSON object)")
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        extra = d.pop("extra")
        return {**extra, **d}

    def write_json(self, folder: str | os.PathLike) -> Path:
        from yolo_transfer.utils.io import atomic_write_json

        return atomic_write_json(self.path(folder), self.to_dict())
