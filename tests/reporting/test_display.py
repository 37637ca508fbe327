"""The snapshot and the mosaic share one display convention (radiological) and mark L and R."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from nibabel import orientations

from livianet.reporting import mosaic_figure, snapshot_figure
from livianet.reporting.display import panel_edges


def _left_structure(codes: str = "LAS"):
    """A head with one structure in the patient's left hemisphere, stored with axis ``codes``.

    In world (RAS) space the structure sits at x < 0. Stored RAS, a picture of the array
    as stored shows it on the left; stored LAS, on the right; radiological, always right.
    """
    shape = (40, 44, 36)
    grid = np.indices(shape).astype(float)
    centre = (np.array(shape) - 1) / 2
    head = (((grid - centre[:, None, None, None]) / (np.array(shape)[:, None, None, None] * 0.4))
            ** 2).sum(0) <= 1  # fmt: skip
    image = np.where(head, 100.0, 0.0).astype(np.float32)
    image += np.linspace(0, 5, shape[1])[None, :, None] * head
    affine = np.eye(4)
    affine[:3, 3] = -centre
    labels = np.zeros(shape, dtype=np.uint8)
    ball = ((grid[0] - centre[0] + 9) ** 2 + (grid[1] - centre[1]) ** 2
            + (grid[2] - centre[2]) ** 2) <= 16  # fmt: skip
    labels[ball] = 1  # world x around -9 mm: the patient's left
    transform = orientations.ornt_transform(
        orientations.io_orientation(affine), orientations.axcodes2ornt(codes)
    )
    stored = affine @ orientations.inv_ornt_aff(transform, shape)
    image, labels = (orientations.apply_orientation(v, transform) for v in (image, labels))
    assert "".join(orientations.aff2axcodes(stored)) == codes
    assert (stored @ [*np.argwhere(labels).mean(0), 1])[0] < -5
    return image, labels, stored


def _rendered(figure):
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int), canvas.get_renderer()


def _side_of_labels(figure, plane: str) -> str:
    """Where the coloured (label) pixels of the ``plane`` panel lie on screen: left or right."""
    pixels, renderer = _rendered(figure)
    (ax,) = [a for a in figure.axes if a.get_title().startswith(plane)]
    box = ax.get_window_extent(renderer)
    height = pixels.shape[0]
    rows = slice(int(height - box.y1) + 2, int(height - box.y0) - 2)  # buffer rows run downwards
    cols = slice(int(box.x0) + 2, int(box.x1) - 2)
    panel = pixels[rows, cols]
    coloured = (panel.max(-1) - panel.min(-1)) > 40  # grey, white and black are not labels
    columns = np.flatnonzero(coloured.any(axis=0))
    assert columns.size, f"no label pixels in the {plane} panel"
    middle = panel.shape[1] / 2
    return "left" if columns.max() < middle else "right" if columns.min() >= middle else "both"


@pytest.mark.parametrize("codes", ["RAS", "LAS", "LIA"])
@pytest.mark.parametrize("plane", ["axial", "coronal"])
def test_snapshot_and_mosaic_show_the_left_hemisphere_on_the_same_side(plane, codes):
    image, labels, affine = _left_structure(codes)
    snapshot = snapshot_figure(image, labels, affine=affine)
    mosaic = mosaic_figure(image, labels, affine)
    # Radiological: the patient's left on the image's right, in both pictures.
    assert _side_of_labels(snapshot, plane) == "right"
    assert _side_of_labels(mosaic, plane) == "right"


def test_both_pictures_mark_l_and_r_on_axial_and_coronal_panels():
    image, labels, affine = _left_structure()
    for figure in (
        snapshot_figure(image, labels, affine=affine),
        mosaic_figure(image, labels, affine),
    ):
        panels = {a.get_title().split()[0]: a for a in figure.axes if a.get_title()}
        for plane in ("axial", "coronal"):
            letters = {t.get_text(): t.get_position() for t in panels[plane].texts}
            assert letters["R"][0] < 0.5 < letters["L"][0], plane
        assert {"A", "P", "S", "I"} <= {t.get_text() for t in panels["sagittal"].texts}


def test_marks_change_the_picture_and_stored_arrays_get_none():
    image, labels, affine = _left_structure()
    marked, _ = _rendered(snapshot_figure(image, labels, affine=np.eye(4)))
    plain_figure = snapshot_figure(image, labels)  # no affine: array axes as stored, no sides
    plain, _ = _rendered(plain_figure)
    assert not any(t.get_text() in ("L", "R") for a in plain_figure.axes for t in a.texts)
    assert marked.shape == plain.shape and (marked != plain).any(axis=-1).sum() > 100


def test_panel_edges_follow_the_convention():
    assert panel_edges("coronal") == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    assert panel_edges("axial", "neurological")["left"] == "L"
    assert panel_edges("sagittal", "neurological")["left"] == "A"
    with pytest.raises(ValueError, match="convention"):
        panel_edges("axial", "upside-down")
