"""Pseudonymization of patient identity (Patient's Name, Patient ID, Patient's Birth Date).

The tables are meant for a BI team, who must be able to count patients and follow one patient
across studies without learning who they are. ``pseudonymize`` (the default) replaces each of
(0010,0010), (0010,0020) and (0010,0030) with HMAC-SHA256 over ``column NUL value`` under a secret
key (hex): equal values give equal hashes, and nobody without the key can test a guess. The age is
published in whole years (completed years), so that the study date minus the age does not give the
birth date back. File paths (archives are often foldered by patient name and birth date) are
published as keyed file ids (:meth:`PrivacySettings.file_id`); the real paths stay in the private
state under ``<output>/_state``. With ``XRF_HASH_IDENTIFIERS=1`` accession numbers and every DICOM
UID are keyed too (UIDs as ``2.25.<decimal>``, so that joins between tables still work).
``identified`` keeps every value, and the run metadata says so.

Bundled demo data may run pseudonymized without a secret: the caller says so explicitly
(``demo=True``) and the run is then marked as using :data:`DEMO_KEY`, which is public and therefore
protects nothing. A real archive without ``XRF_PSEUDONYM_KEY`` is refused, never silently keyed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from xrf_assets.core.settings_files import is_true

Mode = Literal["pseudonymize", "identified"]

PATIENT_COLUMNS: tuple[str, ...] = ("patient_id", "patient_name", "patient_birth_date")
AGE_COLUMN = "patient_age_years"
MODE_ENV = "XRF_PRIVACY"
KEY_ENV = "XRF_PSEUDONYM_KEY"
HASH_IDS_ENV = "XRF_HASH_IDENTIFIERS"
# Bumped when what pseudonymize publishes changes, so staging from before is rebuilt, not mixed.
PSEUDONYMIZE_VERSION = 2
# A DICOM UID inside free text (reasons, issues): at least three dots, digits only.
_UID_IN_TEXT = re.compile(r"(?<![\d.])[0-2](?:\.\d+){3,}(?![\d.])")
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
    hash_identifiers: bool = False  # also key accession numbers and UIDs (pseudonymize only)

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
        cls,
        mode: str | None,
        key: str | None,
        *,
        demo: bool = False,
        hash_identifiers: bool = False,
    ) -> PrivacySettings:
        """From resolved settings: ``mode`` (None or empty: pseudonymize) and the secret ``key``.

        ``demo=True`` (passed only by the bundled demo) falls back to :data:`DEMO_KEY` when no key
        is set; a key that is set always wins. ``hash_identifiers`` keys accession numbers and
        UIDs too.
        """
        mode = (mode or "").strip().lower() or "pseudonymize"
        if mode not in _MODES:
            raise PrivacyError(f"{MODE_ENV} must be one of {list(_MODES)}, not {mode!r}")
        if mode == "identified":
            return cls("identified")
        secret = (key or "").encode("utf-8")
        if not secret and demo:
            return cls("pseudonymize", DEMO_KEY, demo=True, hash_identifiers=hash_identifiers)
        return cls("pseudonymize", secret or None, hash_identifiers=hash_identifiers)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, demo: bool = False
    ) -> PrivacySettings:
        """Read ``XRF_PRIVACY`` (default pseudonymize), ``XRF_PSEUDONYM_KEY`` and
        ``XRF_HASH_IDENTIFIERS``."""
        env = os.environ if environ is None else environ
        return cls.from_settings(
            env.get(MODE_ENV),
            env.get(KEY_ENV),
            demo=demo,
            hash_identifiers=is_true(env.get(HASH_IDS_ENV)),
        )

    @property
    def description(self) -> str:
        """One line for the run metadata and the log."""
        if self.mode == "identified":
            return "identified: patient names, IDs, birth dates and file paths are in the tables"
        ids = "; accession numbers and UIDs keyed too" if self.hash_identifiers else ""
        if self.demo:
            return f"pseudonymize with the public demo key (hashes are not secret){ids}"
        return (
            "pseudonymize: patient name, ID, birth date and file paths are keyed hashes "
            f"(HMAC-SHA256), ages in whole years{ids}"
        )

    @property
    def fingerprint(self) -> str:
        """Identifies mode and key without revealing the key (stored with the staging state)."""
        if self.mode == "identified" or self.key is None:
            return "identified"
        digest = hmac.new(self.key, b"key fingerprint", "sha256").hexdigest()[:16]
        ids = ":ids" if self.hash_identifiers else ""
        return f"pseudonymize{PSEUDONYMIZE_VERSION}{ids}:{digest}"

    @property
    def pseudonymized(self) -> bool:
        return self.mode == "pseudonymize"

    def pseudonym(self, column: str, value: str) -> str:
        """HMAC-SHA256 of ``column NUL value``: the column name keeps an ID from matching a date."""
        assert self.key is not None
        keyed = _keyed(self.key).copy()
        keyed.update(column.encode("utf-8") + b"\0" + value.encode("utf-8"))
        return keyed.hexdigest()

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
        age = out.get(AGE_COLUMN)
        if age is not None:
            out[AGE_COLUMN] = whole_years(age)
        return out

    def file_id(self, path: str) -> str:
        """The published name of a file: its path (identified) or ``file-`` and 20 hex digits of
        HMAC-SHA256 over ``path NUL <path>`` (pseudonymize); the real path is in ``_state``."""
        if self.mode == "identified":
            return path
        return "file-" + self.pseudonym("path", path)[:20]

    def uid(self, value: str) -> str:
        """A keyed UID (``2.25.`` and 128 bits of HMAC as a decimal, a valid UID form) where
        ``hash_identifiers`` is set, else the UID as is. One namespace for all UID columns, so a
        study UID in images still matches the same study in irradiation_events."""
        if not (self.hash_identifiers and self.pseudonymized):
            return value
        return "2.25." + str(int(self.pseudonym("uid", value)[:32], 16))

    def accession(self, value: str) -> str:
        if not (self.hash_identifiers and self.pseudonymized):
            return value
        return self.pseudonym("accession_number", value)[:20]

    def text(self, text: str) -> str:
        """Free text (reasons, issues) with every UID in it keyed, where UIDs are keyed."""
        if not (self.hash_identifiers and self.pseudonymized):
            return text
        return _UID_IN_TEXT.sub(lambda m: self.uid(m.group(0)), text)


@functools.cache
def _keyed(key: bytes) -> hmac.HMAC:
    """HMAC-SHA256 with the key taken in once: a copy per message hashes the keyed pads no more
    (1.1 us a pseudonym instead of 2.8: four per image read, four per file published)."""
    return hmac.new(key, digestmod=hashlib.sha256)


def whole_years(age: float) -> float:
    """Completed years: an age string in days, weeks or months, or an age from a birth date,
    at full precision lets the study date give the birth date back."""
    return float(math.floor(age + 1e-9))
