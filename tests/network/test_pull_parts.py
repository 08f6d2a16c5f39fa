"""Pull's parts that need no PACS: the --pacs address, which studies are wanted, the state file
that makes a pull resumable and a second pull fetch nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom.multival import MultiValue

from xrf_assets.core.network.pull import Pacs, _values, _wanted_study
from xrf_assets.core.network.pull_state import PullState


def test_pacs_address_is_host_port_aet() -> None:
    assert Pacs.parse("127.0.0.1:4242:ORTHANC") == Pacs("127.0.0.1", 4242, "ORTHANC")
    assert Pacs.parse("::1:104:PACS") == Pacs("::1", 104, "PACS")  # IPv6 loopback
    for bad in ("127.0.0.1:4242", "127.0.0.1:port:AET", "127.0.0.1:4242:"):
        with pytest.raises(ValueError, match="HOST:PORT:AET"):
            Pacs.parse(bad)


def test_studies_wanted_by_their_modalities() -> None:
    wanted = {"XA", "RF"}
    assert _wanted_study({"XA", "SR"}, wanted)
    assert _wanted_study({"SR"}, wanted)  # a dose report sent on its own
    assert _wanted_study(set(), wanted)  # the PACS does not say: its series will
    assert not _wanted_study({"CT", "SR"}, wanted)
    assert _values("XA") == {"XA"}
    assert _values(MultiValue(str, ["xa", "SR "])) == {"XA", "SR"}
    assert _values(None) == set()


def test_state_survives_a_restart_and_says_what_was_fetched(tmp_path: Path) -> None:
    state = PullState.load(tmp_path, "127.0.0.1", 4242, "ORTHANC")
    assert not state.has("1.1", "1.2", "1.3")
    state.add("1.1", "1.2", "1.3")
    state.mark_complete("1.1", "1.2", instances=4, wanted=1)
    state.save()
    again = PullState.load(tmp_path, "127.0.0.1", 4242, "ORTHANC")
    assert again.has("1.1", "1.2", "1.3")
    assert not again.has("9.1", "1.2", "1.3")  # same SOP UID in another study: not the same
    assert again.complete_series("1.1", "1.2", 4) == 1
    assert again.complete_series("1.1", "1.2", 5) is None  # an instance was added since
    assert [p.name for p in tmp_path.iterdir()] == ["pull-ORTHANC@127.0.0.1_4242.json"]
    other = PullState.load(tmp_path, "127.0.0.1", 4243, "ORTHANC")
    assert not other.fetched  # another PACS has its own file
    path = again.path
    path.write_text(json.dumps({"version": 0, "pacs": again.pacs, "fetched": {}}))
    with pytest.raises(ValueError, match="not a pull state"):
        PullState.load(tmp_path, "127.0.0.1", 4242, "ORTHANC")
