"""Pseudonymization of patient identity (Patient's Name, Patient ID, Patient's Birth Date).

The tables are meant for a BI team, who must be able to count patients and follow one patient
across studies without learning who they are. ``pseudonymize`` (the default) replaces each of
(0010,0010), (0010,0020) and (0010,0030) with HMAC-SHA256 over ``column NUL value`` under a secret
key (hex): equal values give equal hashes, and nobody without the key can test a guess. Patient's
Age (0010,1010) is kept, in years. ``identified`` keeps the values, and the run metadata says so.

Bundled demo data may run pseudonymized without a secret: the caller says so explicitly
(``demo=True``) and the run is then marked as using :data:`DEMO_KEY`, which is public and therefore
protects nothing. A real archive without ``XRF_PSEUDONYM_KEY`` is refused, never silently keyed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["pseudonymize", "identified"]

PATIENT_COLUMNS: tuple[str, ...] = ("patient_id", "patient_name", "patient_birth_date")
MODE_ENV = "XRF_PRIVACY"
KEY_ENV = "XRF_PSEUDONYM_KEY"
MIN_KEY_BYTES = 16
# Public on purpose (documented in the README): only for the synthetic demo corpus.
DEMO_KEY = b"xrf-dose public demo key: protects nothing"
_MODES: tuple[Mode, ...] = ("pseudonymize", "identified")


class PrivacyError(ValueError):
    """Privacy settings that cannot be used; the message says which variable to set."""


@dataclass(frozen=True)
class PrivacySettings:
    mode: Mode = "pseudonymize"
    key: bytes | None = None
    demo: bool = False  # the key is DEMO_KEY: hashes are not secret

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise PrivacyError(f"{MODE_ENV} must be one of {list(_MODES)}, not {self.mode!r}")
        if self.mode == "pseudonymize":
            if not self.key:
                raise PrivacyError(
                    f"pseudonymize needs a secret key: set {KEY_ENV} (at least {MIN_KEY_BYTES} "
                    f"characters), or set {MODE_ENV}=identified to keep patient identities"
                )
            if len(self.key) < MIN_KEY_BYTES:
                raise PrivacyError(f"{KEY_ENV} is too short: use at least {MIN_KEY_BYTES} bytes")

    @classmethod
    def from_settings(
        cls, mode: str | None, key: str | None, *, demo: bool = False
    ) -> PrivacySettings:
        """From resolved settings: ``mode`` (None or empty: pseudonymize) and the secret ``key``.

        ``demo=True`` (passed only by the bundled demo) falls back to :data:`DEMO_KEY` when no key
        is set; a key that is set always wins.
        """
        mode = (mode or "").strip().lower() or "pseudonymize"
        if mode not in _MODES:
            raise PrivacyError(f"{MODE_ENV} must be one of {list(_MODES)}, not {mode!r}")
        if mode == "identified":
            return cls("identified")
        secret = (key or "").encode("utf-8")
        if not secret and demo:
            return cls("pseudonymize", DEMO_KEY, demo=True)
        return cls("pseudonymize", secret or None)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, demo: bool = False
    ) -> PrivacySettings:
        """Read ``XRF_PRIVACY`` (default pseudonymize) and ``XRF_PSEUDONYM_KEY``."""
        env = os.environ if environ is None else environ
        return cls.from_settings(env.get(MODE_ENV), env.get(KEY_ENV), demo=demo)

    @property
    def description(self) -> str:
        """One line for the run metadata and the log."""
        if self.mode == "identified":
            return "identified: patient names, IDs and birth dates are in the tables"
        if self.demo:
            return "pseudonymize with the public demo key (hashes are not secret)"
        return "pseudonymize: patient name, ID and birth date are keyed hashes (HMAC-SHA256)"

    @property
    def fingerprint(self) -> str:
        """Identifies mode and key without revealing the key (stored with the staging state)."""
        if self.mode == "identified" or self.key is None:
            return "identified"
        return "pseudonymize:" + hmac.new(self.key, b"key fingerprint", "sha256").hexdigest()[:16]

    def pseudonym(self, column: str, value: str) -> str:
        """HMAC-SHA256 of ``column NUL value``: the column name keeps an ID from matching a date."""
        assert self.key is not None
        message = column.encode("utf-8") + b"\0" + value.encode("utf-8")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its patient identity replaced (pseudonymize) or as is (identified).

        Absent and empty values stay as they are: an empty value identifies nobody.
        """
        if self.mode == "identified":
            return row
        out = dict(row)
        for column in PATIENT_COLUMNS:
            value = out.get(column)
            if value:
                out[column] = self.pseudonym(column, str(value))
        return out
