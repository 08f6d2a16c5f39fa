"""Privacy settings: keyed hashes of patient identity, refusal without a key, explicit demo key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from xrf_assets.core.ingest.privacy import DEMO_KEY, PrivacyError, PrivacySettings

KEY = "a-secret-key-of-some-length"


def test_pseudonymize_is_hmac_sha256_of_column_and_value() -> None:
    p = PrivacySettings.from_env({"XRF_PSEUDONYM_KEY": KEY})
    row = {
        "patient_name": "DOE^JANE",
        "patient_id": "123",
        "patient_birth_date": "1950-02-03",
        "patient_age_years": 76.0,
        "patient_sex": "F",
    }
    out = p.apply(row)
    expected = hmac.new(KEY.encode(), b"patient_name\0DOE^JANE", hashlib.sha256).hexdigest()
    assert out["patient_name"] == expected
    assert out["patient_id"] == hmac.new(KEY.encode(), b"patient_id\x00123", "sha256").hexdigest()
    assert out["patient_age_years"] == 76.0 and out["patient_sex"] == "F"
    assert row["patient_name"] == "DOE^JANE"  # the input row is not altered
    assert len(out["patient_birth_date"]) == 64


def test_same_value_in_another_column_hashes_differently() -> None:
    p = PrivacySettings("pseudonymize", KEY.encode())
    assert p.pseudonym("patient_id", "19500203") != p.pseudonym("patient_birth_date", "19500203")


def test_other_key_other_hash_and_other_fingerprint() -> None:
    a = PrivacySettings("pseudonymize", KEY.encode())
    b = PrivacySettings("pseudonymize", (KEY + "2").encode())
    assert a.pseudonym("patient_id", "1") != b.pseudonym("patient_id", "1")
    assert a.fingerprint != b.fingerprint
    assert KEY not in a.fingerprint


def test_empty_and_absent_values_stay() -> None:
    p = PrivacySettings("pseudonymize", KEY.encode())
    row = {"patient_name": "", "patient_id": None}
    assert p.apply(row) == row


def test_identified_keeps_values_and_says_so() -> None:
    p = PrivacySettings.from_env({"XRF_PRIVACY": "identified"})
    assert p.apply({"patient_name": "DOE^JANE"}) == {"patient_name": "DOE^JANE"}
    assert p.description.startswith("identified")
    assert p.fingerprint == "identified"


def test_pseudonymize_without_key_is_refused() -> None:
    with pytest.raises(PrivacyError, match="XRF_PSEUDONYM_KEY"):
        PrivacySettings.from_env({})
    with pytest.raises(PrivacyError, match="too short"):
        PrivacySettings.from_env({"XRF_PSEUDONYM_KEY": "short"})


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(PrivacyError, match="XRF_PRIVACY"):
        PrivacySettings.from_env({"XRF_PRIVACY": "anonymous"})


def test_demo_key_only_when_asked_and_marked() -> None:
    demo = PrivacySettings.from_env({}, demo=True)
    assert demo.key == DEMO_KEY and demo.demo
    assert "demo key" in demo.description
    keyed = PrivacySettings.from_env({"XRF_PSEUDONYM_KEY": KEY}, demo=True)
    assert keyed.key == KEY.encode() and not keyed.demo


def test_ages_are_published_in_completed_years() -> None:
    p = PrivacySettings("pseudonymize", KEY.encode())
    # 018D, 70.49 years from a birth date: with the study date either gives the birth date back
    assert p.apply({"patient_age_years": 18 / 365.25})["patient_age_years"] == 0.0
    assert p.apply({"patient_age_years": 70.4942})["patient_age_years"] == 70.0
    assert p.apply({"patient_age_years": 102.0})["patient_age_years"] == 102.0
    assert p.apply({"patient_age_years": None})["patient_age_years"] is None
    identified = PrivacySettings("identified")
    assert identified.apply({"patient_age_years": 70.4942})["patient_age_years"] == 70.4942


def test_paths_become_keyed_file_ids() -> None:
    p = PrivacySettings("pseudonymize", KEY.encode())
    path = "Doe^Jane_19700101/report.dcm"
    expected = hmac.new(KEY.encode(), b"path\0" + path.encode(), "sha256").hexdigest()[:20]
    assert p.file_id(path) == f"file-{expected}"
    assert p.file_id("other.dcm") != p.file_id(path)
    assert PrivacySettings("identified").file_id(path) == path


def test_identifiers_are_keyed_only_when_asked() -> None:
    plain = PrivacySettings.from_env({"XRF_PSEUDONYM_KEY": KEY})
    keyed = PrivacySettings.from_env({"XRF_PSEUDONYM_KEY": KEY, "XRF_HASH_IDENTIFIERS": "1"})
    uid = "1.3.6.1.4.1.5962.99.1.2786334768.1849416866.1385765836848.2.0"
    assert plain.uid(uid) == uid and plain.accession("A123") == "A123"
    hashed = keyed.uid(uid)
    assert hashed.startswith("2.25.") and len(hashed) <= 64 and hashed == keyed.uid(uid)
    assert keyed.accession("A123") != "A123" and len(keyed.accession("A123")) == 20
    text = f"all 3 of its events are in report {uid} (study date 2016-05-12, 0.555 Gy.cm2)"
    assert keyed.text(text) == text.replace(uid, hashed)
    assert plain.fingerprint != keyed.fingerprint  # staging of the one is not mixed with the other
