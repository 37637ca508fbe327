"""The training and segmentation reports from a run's files, the trainer's hook, the CLI."""

from __future__ import annotations

import csv
import json
import re

import pytest
from conftest import TRAINED_NAMES, write_tiny_ini
from manifest_cases import healthy_scans, manifest, write_segmentation_folder

from livianet.cli.main import main
from livianet.config import load_training_config
from livianet.errors import DataError
from livianet.reporting import Budget, epoch_line, write_report, write_segmentation_report
from livianet.reporting.training_report import flatten_config, read_training_run
from livianet.training import TrainOptions, train


def _row_order(html: str, table_id: str) -> list[str]:
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<td class="name" data-sort="([^"]*)"', body)


# ----------------------------------------------------------------------------- training


def test_training_writes_its_report_every_epoch(trained_run):
    html = (trained_run / "report.html").read_text()
    assert "Training report: tiny" in html
    assert "3 epochs trained of 3" in html
    assert TRAINED_NAMES[3] not in html and "&lt;b&gt;Caudate &amp; co&lt;/b&gt;" in html
    for section in ("Curves", "Epochs", "Checkpoints", "Machine and versions", "Configuration"):
        assert f"<h2>{section}</h2>" in html
    assert html.count("<svg") == 1  # one figure of four panels: loss, Dice, lr, speed
    assert len(re.findall(r'<g id="curve-(?:loss|dice|lr|speed)">', html)) == 4
    for name in ("tiny_Epoch1.pt", "tiny_Epoch2.pt", "tiny_Epoch3.pt", "tiny_best.pt"):
        assert f"Networks/{name}" in html
    assert 'class="badge">best</span>' in html
    run = read_training_run(trained_run)
    keys = dict(flatten_config(run.config))
    assert keys["train.optim.learning_rate"] == 0.005 and "train.augment.flip_axes" in keys
    assert "<code>train.optim.learning_rate</code>" in html  # every key, defaults included
    assert run.sessions and run.sessions[0].versions["seed"] == "3"
    assert run.sessions[0].machine["cpu_count"] >= 1 and run.sessions[0].machine["cpu"]
    assert run.best["epoch"] in (1, 2, 3)


def test_report_rebuilt_by_the_cli_matches(trained_run, capsys):
    before = (trained_run / "report.html").read_text()
    assert main(["report", str(trained_run)]) == 0
    assert f"report written to {trained_run / 'report.html'}" in capsys.readouterr().out
    after = (trained_run / "report.html").read_text()
    strip = re.compile(r"written \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    assert strip.sub("", before) == strip.sub("", after)


def test_a_failing_report_never_stops_training(tmp_path, tiny_dataset, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("livianet.training.trainer.write_training_report", broken)
    config = load_training_config(write_tiny_ini(tmp_path, tiny_dataset, epochs=2))
    with caplog.at_level("WARNING", logger="livianet"):
        result = train(config, TrainOptions(device="cpu", progress=False))
    assert result.epochs_completed == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("training report not written" in w for w in warnings) == 2
    assert "No space left on device" in warnings[0]


def test_a_time_budget_shows_minutes_used_and_left(tmp_path, tiny_dataset):
    config = load_training_config(write_tiny_ini(tmp_path, tiny_dataset, epochs=300))
    train(config, TrainOptions(device="cpu", progress=False, time_budget_s=2.0))
    lines = [
        line.split(": ", 1)[1]
        for line in (config.run_dir / "tiny.log").read_text().splitlines()
        if "livianet.training.trainer: epoch " in line
    ]
    assert lines, "no epoch lines"
    assert all(
        re.match(r"epoch \d+, [\d.]+ of 2\.0 s used \([\d.]+ s left\), loss", x) for x in lines
    )
    assert not any("/300" in x for x in lines)
    html = (config.run_dir / "report.html").read_text()
    assert "Stopped: time budget of 0.0 min reached" in html


def test_epoch_line_keeps_epoch_of_n_when_the_budget_is_ample():
    row = {"epoch": 3, "train_loss": 0.5, "lr": 1e-3, "samples_per_s": 50.0, "seconds": 10.0}
    assert epoch_line(row, 10).startswith("epoch 3/10, loss 0.5000")
    assert epoch_line(row, 10, Budget(3600.0, 30.0, 3)).startswith("epoch 3/10, loss")
    tight = epoch_line({**row, "cut_short": True}, 10, Budget(600.0, 590.0, 3))
    assert tight.startswith("epoch 3, 9.8 of 10.0 min used (0.2 min left), loss")
    assert tight.endswith("cut short by the time budget")


def test_training_report_of_a_damaged_run(tmp_path):
    run = tmp_path / "run"
    (run / "Networks").mkdir(parents=True)
    (run / "Networks" / "net_Epoch1.pt").write_bytes(b"not a checkpoint")
    (run / "net_metrics.csv").write_text("epoch,train_loss,lr\n1,0.9,0.01\n2,bad,0.01\n")
    path = write_report(run)
    html = path.read_text()
    assert re.search(r"<p class=\"summary bad\">[^<]*net_Epoch1.pt: ", html)
    assert "2 epochs trained" in html and "No parsed configuration found" in html
    assert "this is the machine that wrote this report" in html


# ----------------------------------------------------------------------------- segmentation


def test_segmentation_report_and_qc_table(tmp_path):
    folder = tmp_path / "seg"
    write_segmentation_folder(folder)
    path = write_segmentation_report(folder)
    assert path == folder / "report.html"
    html = path.read_text()
    assert _row_order(html, "scans")[:2] == ["sub-07_T1w.nii.gz", "sub-02_T1w.nii.gz"]
    assert "2 of 7 scans flagged; 1 failed" in html
    assert "intensities &lt;look&gt; odd" in html and "<look>" not in html
    assert "Mosaics in radiological view (patient&#39;s left on the image&#39;s right)" in html
    assert 'href="Snapshot%20sub-01_T1w%20%231.png"' in html
    for src in re.findall(r'<img src="([^"]+)"', html):
        assert (folder / src).is_file(), src
    assert "bad.nii.gz: cannot read as NIfTI (x)" in html

    with open(folder / "qc.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["image"], r["flagged"]) for r in rows[:3]] == [
        ("sub-07_T1w.nii.gz", "1"),
        ("bad.nii.gz", "1"),
        ("sub-02_T1w.nii.gz", "1"),
    ]
    assert rows[0]["reasons"] == "Left-Putamen missing (volume 0 mm³)"
    assert rows[0]["Left-Putamen_volume_mm3"] == "0" and rows[0]["Putamen_asymmetry"] == "-2"
    assert {r["flagged"] for r in rows[3:]} == {"0"}
    assert len(rows) == 8


def test_segmentation_report_shows_metrics_when_references_were_given(tmp_path):
    folder = tmp_path / "seg"
    folder.mkdir()
    scans = healthy_scans(3)
    scans[0]["metrics"] = {"1": {"dice": 0.9, "hd95_mm": 1.4}, "5": {"dice": 0.8, "hd95_mm": 2.5}}
    (folder / "segmentation.json").write_text(json.dumps(manifest(scans)))
    html = write_report(folder).read_text()
    assert "<h2>Metrics against the references</h2>" in html
    assert '<td class="num" data-sort="0.8500000000000001">0.850</td>' in html  # mean Dice
    assert '<td class="num" data-sort="2.5">2.50</td>' in html  # worst HD95
    metrics = html.split('id="metrics"', 1)[1].split("</table>", 1)[0]
    assert metrics.count("<tr>") == 2  # the heading and the one scan with references


def test_segmentation_report_without_pictures_or_optional_keys(tmp_path):
    folder = tmp_path / "seg"
    folder.mkdir()
    (folder / "segmentation.json").write_text(
        '{"scans": [{"image": "a.nii.gz", "mosaic": "Mosaic_gone.png", "volumes_mm3": {"1": 5}},'
        ' {"image": "b.nii.gz", "geometry": "odd", "metrics": [1], "components": null}]}'
    )
    html = write_report(folder).read_text()
    assert "no picture" in html and "<img" not in html
    assert "0 of 2 scans flagged" in html
    assert (folder / "qc.csv").read_text().splitlines()[0].startswith("image,flagged,reasons,")


def test_report_refuses_other_folders(tmp_path, capsys):
    with pytest.raises(DataError, match="neither a training run folder"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "folder not found" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "segmentation.json").write_text("{broken")
    assert main(["report", str(bad)]) == 1
    assert "cannot read the manifest" in capsys.readouterr().err
