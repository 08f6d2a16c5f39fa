"""The dose card of demo studies against the generator's ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from builders.demo_run import DemoRun

from schemas import contract
from xrf_assets.core.lookup.study_card import LookupNotFound, study_card
from xrf_assets.core.store import TableStore, frame_from_rows

# default alert thresholds (XrfSettings): Dose (RP) 5 Gy, DAP 500 Gy.cm2, fluoro time 60 min
THRESHOLDS = {"dose_rp_gy": 5.0, "dap_gy_cm2": 500.0, "fluoro_time_min": 60.0}


def _truth_study(run: DemoRun, **where: str) -> dict[str, Any]:
    studies = run.truth.studies.filter(**where).sort("study_instance_uid")
    return studies.row(0, named=True)


def _figures(study: dict[str, Any]) -> dict[str, float]:
    return {
        "dose_rp_gy": study["dose_rp_total_gy"],
        "dap_gy_cm2": study["dap_total_gy_m2"] * 1e4,
        "fluoro_time_min": study["fluoro_time_s"] / 60,
    }


def _truth_links(run: DemoRun, uid: str) -> set[tuple[str, str]]:
    images = run.truth.images.filter(pl.col("study_instance_uid") == uid)
    links = run.truth.links.join(images.select("sop_instance_uid"), on="sop_instance_uid")
    return set(links.select("irradiation_event_uid", "sop_instance_uid").iter_rows())


def test_the_high_dose_study_has_the_truth_totals_events_images_and_alerts(
    demo_run: DemoRun,
) -> None:
    truth = _truth_study(demo_run, scenario="high_dose")
    uid = truth["study_instance_uid"]
    card = study_card(demo_run.store, uid)
    totals = {(t["figure"], t["unit"]): t for t in card.totals.iter_rows(named=True)}
    events = demo_run.truth.irradiation_events.filter(pl.col("study_instance_uid") == uid)
    for (figure, unit), column, event_column in (
        (("DAP", "Gy.m2"), "dap_total_gy_m2", "dap_gy_m2"),
        (("Dose (RP)", "Gy"), "dose_rp_total_gy", "dose_rp_gy"),
    ):
        row = totals[figure, unit]
        assert row["value"] == pytest.approx(truth[column], abs=1e-12)
        assert row["source"] == "device_total"
        assert row["device_total"] == pytest.approx(truth[column], abs=1e-12)
        assert row["event_sum"] == pytest.approx(events[event_column].sum(), abs=1e-12)
    assert totals["DAP", "Gy.cm2"]["value"] == pytest.approx(truth["dap_total_gy_m2"] * 1e4)
    assert totals["fluoro time", "s"]["value"] == pytest.approx(truth["fluoro_time_s"])
    assert totals["acquisition time", "s"]["value"] == pytest.approx(truth["acquisition_time_s"])

    assert card.events.height == truth["n_events"] == 94
    assert set(card.events["irradiation_event_uid"]) == set(events["irradiation_event_uid"])
    assert card.events["event_number"].to_list() == list(range(1, 95))
    assert card.events["datetime_started"].is_sorted()
    assert card.images["sop_instance_uid"].n_unique() == truth["n_images"] == 71
    assert card.link_counts == {"image_event_uid": 71}  # Cath Lab 1 writes the event UID
    pairs = card.images.select("irradiation_event_uid", "sop_instance_uid").iter_rows()
    assert set(pairs) == _truth_links(demo_run, uid)

    rooms = dict(demo_run.truth.rooms.select("room_id", "name").iter_rows())
    assert card.study["room_id"] == rooms[truth["room_id"]] == "Cath Lab 1"
    assert card.study["patient_id"] == demo_run.pseudonym(truth["patient_id"])
    assert card.study["study_date"] == truth["study_date"]

    # the patient's only study in the 6-month window: its study and window rules break alike
    assert demo_run.truth.studies.filter(patient_id=truth["patient_id"]).height == 1
    figures = _figures(truth)
    broken = {q: v for q, v in figures.items() if v >= THRESHOLDS[q]}
    assert set(broken) == set(THRESHOLDS)  # all three: the scenario is high dose
    expected = {(f"study_{q}", v) for q, v in broken.items()}
    expected |= {(f"patient_window_{q}", v) for q, v in broken.items()}
    got = {(a["rule"], a["value"]) for a in card.alerts.iter_rows(named=True)}
    assert {rule for rule, _ in got} == {rule for rule, _ in expected}
    for rule, value in expected:
        assert dict(got)[rule] == pytest.approx(value, rel=1e-12)
    psd = demo_run.store.read("skin_dose").filter(study_instance_uid=uid)["peak_skin_dose_gy"]
    assert totals["peak skin dose", "Gy"]["value"] == psd.max() < 3.0  # so no PSD alert


@pytest.mark.parametrize(
    ("room", "method"),
    [
        ("Cath Lab 1", "image_event_uid"),  # writes the event UID into its images
        ("Angio 2", "report_reference"),  # its reports reference the images
        ("Fluoro 3", "time_window"),  # neither: image time within the event's window
    ],
)
def test_each_image_is_linked_to_its_true_event_and_says_how(
    demo_run: DemoRun, room: str, method: str
) -> None:
    rooms = demo_run.truth.rooms.filter(name=room).row(0, named=True)
    studies = demo_run.truth.studies.filter(room_id=rooms["room_id"], scenario="routine")
    truth = studies.sort(["n_images", "study_instance_uid"], descending=[True, False]).row(
        0, named=True
    )
    card = study_card(demo_run.store, truth["study_instance_uid"])
    assert card.study["room_id"] == room
    assert card.link_counts == {method: truth["n_images"]}
    pairs = card.images.select("irradiation_event_uid", "sop_instance_uid").iter_rows()
    assert set(pairs) == _truth_links(demo_run, truth["study_instance_uid"])
    numbers = dict(card.events.select("irradiation_event_uid", "event_number").iter_rows())
    for image in card.images.iter_rows(named=True):
        assert image["event_number"] == numbers[image["irradiation_event_uid"]]


def test_the_card_text_shows_the_figures_and_no_identity(demo_run: DemoRun) -> None:
    truth = _truth_study(demo_run, scenario="high_dose")
    card = study_card(demo_run.store, truth["study_instance_uid"])
    text = card.render()
    lines = text.splitlines()
    assert lines[0] == f"Study {truth['study_instance_uid']}"
    assert "  room         Cath Lab 1 (fluoroscopy)" in lines
    dap = next(line.split() for line in lines if line.startswith("DAP") and "Gy.cm2" in line)
    cm2 = f"{truth['dap_total_gy_m2'] * 1e4:.2f}"
    assert dap[:6] == ["DAP", "Gy.cm2", cm2, "device_total", cm2, cm2]
    assert "Irradiation events (94):" in lines
    assert "Images (71; links by method: image_event_uid 71):" in lines
    patient = demo_run.truth.images.filter(study_instance_uid=truth["study_instance_uid"]).row(
        0, named=True
    )
    for shown in (text, card.to_json()):
        assert demo_run.pseudonym(truth["patient_id"]) in shown
        for identity in ("patient_id", "patient_name", "patient_birth_date"):
            assert str(patient[identity]) not in shown, identity


def test_an_unknown_study_is_named(demo_run: DemoRun) -> None:
    with pytest.raises(LookupNotFound) as raised:
        study_card(demo_run.store, "1.2.3.4")
    assert str(raised.value) == f"no study 1.2.3.4 in study_dose under {demo_run.store.root}"


def _copy_of_study(run: DemoRun, uid: str, root: Path, tables: tuple[str, ...]) -> TableStore:
    """A table root holding only ``tables``' rows of one demo study (a mutated copy's start)."""
    store = TableStore(root)
    for table in tables:
        monthly = contract(table).partitioned_by_month
        rows = run.store.read(table).filter(study_instance_uid=uid)
        for month in rows["month"].unique() if monthly else [None]:
            store.write(table, rows.filter(month=month) if month else rows, month=month)
    return store


def test_an_unlinked_image_shows_the_reason_unlinked_images_gives(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    truth = _truth_study(demo_run, scenario="high_dose")
    uid = truth["study_instance_uid"]
    store = _copy_of_study(demo_run, uid, tmp_path, ("study_dose", "irradiation_events", "images"))
    links = demo_run.store.read("event_image_links").join(
        store.read("images").select("sop_instance_uid"), on="sop_instance_uid"
    )
    first = links.sort("sop_instance_uid").row(0, named=True)
    store.write(
        "event_image_links", links.filter(pl.col("sop_instance_uid") != first["sop_instance_uid"])
    )
    unlinked = {
        "sop_instance_uid": first["sop_instance_uid"],
        "reason": "ambiguous",
        "candidate_event_uids": [first["irradiation_event_uid"]],
        "nearest_gap_s": 0.0,
        "clock_offset_s": 0.0,
    }
    store.write("unlinked_images", frame_from_rows("unlinked_images", [unlinked]))
    card = study_card(store, uid)
    assert card.link_counts == {"image_event_uid": 70, "unlinked: ambiguous": 1}
    row = card.images.filter(sop_instance_uid=first["sop_instance_uid"]).row(0, named=True)
    assert row["event_number"] is None and row["unlinked_reason"] == "ambiguous"
    line = next(x for x in card.render().splitlines() if x.endswith(first["sop_instance_uid"]))
    assert "unlinked: ambiguous" in line


def test_a_study_with_events_but_no_audited_month_says_so(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    uid = _truth_study(demo_run, scenario="high_dose")["study_instance_uid"]
    store = _copy_of_study(demo_run, uid, tmp_path, ("irradiation_events", "images"))
    with pytest.raises(LookupNotFound) as raised:
        study_card(store, uid)
    assert str(raised.value) == (
        f"study {uid} has 94 irradiation_events and 71 images rows but no study_dose row under "
        f"{tmp_path}: its month is not audited (see xrf-dose run)"
    )
