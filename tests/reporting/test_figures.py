"""The QA snapshot and the training curves (PNG, and the inline SVG of the report)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from livianet.reporting import (
    OVERLAY_ALPHA,
    label_colours,
    save_snapshot,
    save_training_curves,
    snapshot_figure,
    training_curves_figure,
)
from livianet.reporting.curves import PANELS
from livianet.reporting.drawing import figure_svg


def _spheres(shape=(40, 48, 36)):
    """Image: a bright ellipsoid 'head' on zero background; labels: two spheres 1 and 2."""
    rng = np.random.default_rng(0)
    grid = np.indices(shape).astype(float)
    centre = np.array(shape, dtype=float)[:, None, None, None] / 2
    head = (((grid - centre) / (np.array(shape)[:, None, None, None] * 0.4)) ** 2).sum(0) <= 1
    image = np.where(head, 100 + 20 * rng.standard_normal(shape), 0).astype(np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    for label, offset in ((1, (-6, 0, 0)), (2, (6, 4, 0))):
        c = centre[:, 0, 0, 0] + offset
        labels[((grid - c[:, None, None, None]) ** 2).sum(0) <= 5**2] = label
    return image, labels


def _blend_mask(png: np.ndarray, colour: np.ndarray, tol: float = 0.03) -> np.ndarray:
    """Pixels that are ``colour`` blended over some grey at OVERLAY_ALPHA."""
    rgb = png[..., :3].astype(float)
    base = (rgb - OVERLAY_ALPHA * colour) / (1 - OVERLAY_ALPHA)
    spread = base.max(-1) - base.min(-1)
    is_grey_base = (spread < tol) & (base.min(-1) > -tol) & (base.max(-1) < 1 + tol)
    coloured = rgb.max(-1) - rgb.min(-1) > 0.1
    return is_grey_base & coloured


def _coloured_fraction(png: np.ndarray) -> float:
    rgb = png[..., :3]
    return float(((rgb.max(-1) - rgb.min(-1)) > 0.1).mean())


# --------------------------------------------------------------------------- label_colours


def test_label_colours_fixed_per_label():
    small, large = label_colours(3), label_colours(40)
    assert small.shape == (3, 3) and large.shape == (40, 3)
    np.testing.assert_array_equal(small, large[:3])
    np.testing.assert_array_equal(large[0], 0.0)
    assert ((large >= 0) & (large <= 1)).all()
    # Foreground colours are distinct from each other.
    assert len({tuple(np.round(c, 3)) for c in large[1:]}) == 39
    np.testing.assert_array_equal(label_colours(40), large)
    assert label_colours(0).shape == (0, 3)


def test_label_colours_rejects_negative():
    with pytest.raises(ValueError, match="-1"):
        label_colours(-1)


# --------------------------------------------------------------------------- snapshot


def test_snapshot_png_shows_label_colours(tmp_path):
    image, labels = _spheres()
    out = save_snapshot(
        image,
        labels,
        tmp_path / "case1.png",
        spacing=(1.0, 1.0, 2.0),
        names={1: "grey matter"},
        title="case 1",
    )
    assert out == tmp_path / "case1.png"
    png = imread(out)
    assert abs(png.shape[1] - 1200) <= 20
    assert 300 < png.shape[0] < 1200
    for label in (1, 2):
        colour = label_colours(3)[label]
        assert _blend_mask(png, colour).sum() > 100, f"no pixels of label {label}'s blend"
    assert [p.name for p in tmp_path.iterdir()] == ["case1.png"]


def test_snapshot_with_reference_adds_a_row(tmp_path):
    image, labels = _spheres()
    one = imread(save_snapshot(image, labels, tmp_path / "one.png"))
    two_path = tmp_path / "two.png"
    two = imread(save_snapshot(image, labels, two_path, reference=labels, num_classes=4))
    assert two.shape[0] > one.shape[0] * 1.4
    assert abs(two.shape[1] - 1200) <= 20


def test_snapshot_legend_names_and_absent_classes():
    image, labels = _spheres()
    figure = snapshot_figure(image, labels, names={1: "CSF"}, num_classes=4)
    assert isinstance(figure, Figure)
    (legend,) = figure.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["CSF", "label 2", "label 3 (absent)"]


def test_snapshot_slices_all_show_labels():
    # The spheres' centre of mass lies between them along X, so the X panel
    # moves to a slice through the middle of a sphere; Y and Z keep the centre.
    image, labels = _spheres()
    titles = [ax.get_title() for ax in snapshot_figure(image, labels).axes]
    indices = [int(t.split(" = ")[1]) for t in titles]
    assert [t.split(" = ")[0] for t in titles] == ["X", "Y", "Z"]
    assert indices[0] in (14, 26)
    assert indices[1:] == [26, 18]
    for axis, index in enumerate(indices):
        assert np.take(labels, index, axis=axis).any()


def test_snapshot_empty_labels_use_volume_centre():
    image, _ = _spheres()
    titles = [ax.get_title() for ax in snapshot_figure(image, np.zeros(image.shape, int)).axes]
    assert titles == ["X = 20", "Y = 24", "Z = 18"]


def test_snapshot_empty_labels(tmp_path):
    image, _ = _spheres()
    png = imread(save_snapshot(image, np.zeros(image.shape, np.int16), tmp_path / "empty.png"))
    assert abs(png.shape[1] - 1200) <= 20
    assert _coloured_fraction(png) == 0.0


def test_snapshot_degenerate_inputs(tmp_path):
    # All-zero image, float labels, a flat (X, Y, 1) volume without contours crashing.
    save_snapshot(np.zeros((8, 9, 10)), np.zeros((8, 9, 10)), tmp_path / "zeros.png")
    image = np.ones((20, 16, 1))
    labels = np.zeros((20, 16, 1))
    labels[5:9, 5:9] = 1.0
    png = imread(save_snapshot(image, labels, tmp_path / "flat.png"))
    assert _blend_mask(png, label_colours(2)[1]).any()


def test_snapshot_rejects_bad_shapes_and_spacing(tmp_path):
    image, labels = _spheres()
    with pytest.raises(ValueError, match=r"labels shape \(40, 48\).*\(40, 48, 36\)"):
        save_snapshot(image, labels[..., 0], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"reference shape"):
        save_snapshot(image, labels, tmp_path / "x.png", reference=labels[:10])
    with pytest.raises(ValueError, match=r"image must be 3-D.*\(40, 48\)"):
        save_snapshot(image[..., 0], labels[..., 0], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"spacing.*\(1\.0, 0\.0, 1\.0\)"):
        save_snapshot(image, labels, tmp_path / "x.png", spacing=(1.0, 0.0, 1.0))
    assert list(tmp_path.iterdir()) == []


def test_snapshot_unwritable_path_leaves_nothing(tmp_path):
    image, labels = _spheres()
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        save_snapshot(image, labels, blocker / "sub" / "snap.png")
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


def test_failed_render_removes_temp_file(tmp_path, monkeypatch):
    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    image, labels = _spheres((12, 12, 12))
    with pytest.raises(OSError, match="No space"):
        save_snapshot(image, labels, tmp_path / "snap.png")
    with pytest.raises(OSError, match="No space"):
        save_training_curves([], tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- training curves


def _rows(n=6):
    rows = []
    for epoch in range(1, n + 1):
        rows.append(
            {
                "epoch": epoch,
                "train_loss": 2.0 * 0.5**epoch,
                "val_loss": 2.2 * 0.55**epoch,
                "lr": 1e-3,
                "val_dice_mean": 0.1 * epoch,
                "val_dice_1": 0.08 * epoch,
                "val_dice_2": 0.12 * epoch,
                "seconds": 12.0,
            }
        )
    return rows


def test_training_curves_png(tmp_path):
    out = save_training_curves(_rows(), tmp_path / "curves.png", title="run 1")
    assert out == tmp_path / "curves.png"
    png = imread(out)
    assert abs(png.shape[1] - 1200) <= 20
    assert _coloured_fraction(png) > 0
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_training_curves_content():
    figure = training_curves_figure(_rows(8))
    loss_ax, dice_ax, lr_ax, speed_ax = figure.axes
    assert [ax.get_title() for ax in figure.axes] == [
        "loss",
        "validation Dice",
        "learning rate",
        "speed",
    ]
    assert lr_ax.get_yscale() == "linear"  # a constant rate
    assert "no data yet" in [t.get_text() for t in speed_ax.texts]  # no samples_per_s column
    assert loss_ax.get_yscale() == "log"  # 1.0 .. 0.0078 spans two decades
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["training", "validation"]
    assert [t.get_text() for t in dice_ax.get_legend().get_texts()] == ["1", "2", "mean"]
    assert dice_ax.get_ylim() == (0.0, 1.0)
    mean_line = dice_ax.get_lines()[-1]
    assert mean_line.get_linewidth() > dice_ax.get_lines()[0].get_linewidth()
    np.testing.assert_allclose(dice_ax.get_lines()[0].get_color(), label_colours(2)[1])


def test_training_curves_skip_nan_missing_and_strings(tmp_path):
    rows = [
        {"epoch": 1, "train_loss": 0.9, "val_loss": math.nan, "lr": 1e-3},
        {
            "epoch": 2,
            "train_loss": 0.8,
            "val_dice_mean": 0.4,
            "val_dice_csf": 0.3,
            "val_dice_wm": "",
        },
        {
            "epoch": "3",
            "train_loss": "0.7",
            "val_loss": "0.75",
            "val_dice_mean": "nan",
            "val_dice_csf": "0.5",
            "val_dice_wm": "0.6",
        },
    ]
    figure = training_curves_figure(rows)
    loss_ax, dice_ax, lr_ax, _ = figure.axes
    assert loss_ax.get_yscale() == "linear"
    assert list(lr_ax.get_lines()[0].get_xdata()) == [1]
    train, val = loss_ax.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3]
    assert list(val.get_xdata()) == [3]
    assert [t.get_text() for t in dice_ax.get_legend().get_texts()] == ["csf", "wm", "mean"]
    csf, wm, mean = dice_ax.get_lines()
    assert list(csf.get_xdata()) == [2, 3] and list(wm.get_xdata()) == [3]
    assert list(mean.get_ydata()) == [0.4]
    png = imread(save_training_curves(rows, tmp_path / "nan.png"))
    assert abs(png.shape[1] - 1200) <= 20


@pytest.mark.parametrize("rows", [[], [{"epoch": 1, "train_loss": 0.5, "val_loss": math.nan}]])
def test_training_curves_without_validation(tmp_path, rows):
    figure = training_curves_figure(rows)
    dice_ax = figure.axes[1]
    assert "no validation yet" in [t.get_text() for t in dice_ax.texts]
    assert dice_ax.get_legend() is None
    png = imread(save_training_curves(rows, tmp_path / "curves.png"))
    assert abs(png.shape[1] - 1200) <= 20


def test_training_curves_name_structures_and_spread_rates_on_a_log_axis():
    rows = [{**row, "lr": 1e-3 * 0.5**i} for i, row in enumerate(_rows(4))]
    figure = training_curves_figure(rows, names={2: "Right-Caudate"})
    _, dice_ax, lr_ax, _ = figure.axes
    assert [t.get_text() for t in dice_ax.get_legend().get_texts()] == [
        "1",
        "Right-Caudate",
        "mean",
    ]
    np.testing.assert_allclose(dice_ax.get_lines()[1].get_color(), label_colours(3)[2])
    assert lr_ax.get_yscale() == "log"  # 1e-3 .. 1.25e-4: a factor of 8


def test_the_report_shows_the_figure_as_inline_svg_with_names_as_text():
    evil = '<script>alert("x")</script> & co'
    rows = _rows(3)
    svg = figure_svg(training_curves_figure(rows, names={1: evil}))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<?xml" not in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg  # the name is text, escaped
    assert [f'<g id="curve-{name}">' in svg for name in PANELS] == [True] * 4
    assert svg == figure_svg(training_curves_figure(rows, names={1: evil}))  # no random ids
    assert "dc:date" not in svg
