"""The mosaic: one display convention whatever the scan's storage order, L and R marked."""

from __future__ import annotations

import numpy as np
import pytest
from manifest_cases import NAMES, phantom
from nibabel import orientations

from livianet.reporting import display_panels, mosaic_figure, save_mosaic
from livianet.reporting.html import png_info
from livianet.reporting.mosaic import CONVENTION_KEY

MARKER = 9  # a rod along the S-I axis on the patient's left, anterior: in every axial slice
ROD = 10  # a rod along the A-P axis on the patient's left, superior: in every coronal slice


def _scan(spacing=(1.0, 1.0, 1.5)):
    """The phantom stored RAS with anisotropic voxels, plus the two rods (left is low x)."""
    image, labels, _ = phantom()
    shape = np.array(labels.shape)
    centre = (shape - 1) / 2
    x, y, z = (centre + (-12, 12, 10)).astype(int)
    labels[x - 1 : x + 1, y - 1 : y + 1, :] = MARKER
    labels[x - 1 : x + 1, :, z - 1 : z + 1] = ROD
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -np.array(spacing) * centre
    return image, labels, affine


def _stored(image, labels, affine, codes):
    """The same scan stored with axis codes ``codes`` (the world positions unchanged)."""
    transform = orientations.ornt_transform(
        orientations.io_orientation(affine), orientations.axcodes2ornt(codes)
    )
    new_affine = affine @ orientations.inv_ornt_aff(transform, image.shape)
    assert "".join(orientations.aff2axcodes(new_affine)) == codes
    return (
        orientations.apply_orientation(image, transform),
        orientations.apply_orientation(labels, transform),
        new_affine,
    )


def _half_holding(panel, label) -> str:
    cols = np.flatnonzero((panel.labels == label).any(axis=0))
    assert cols.size, f"label {label} not in the {panel.name} panel"
    middle = panel.labels.shape[1] / 2
    return "left" if cols.max() < middle else "right" if cols.min() >= middle else "both"


@pytest.mark.parametrize("codes", ["LIA", "PSR", "LPS", "ASL"])
def test_any_storage_order_displays_the_same(codes):
    image, labels, affine = _scan()
    reference = display_panels(image, labels, affine)
    other = display_panels(*_stored(image, labels, affine, codes))
    for a, b in zip(reference, other, strict=True):
        assert a.name == b.name and a.edges == b.edges
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.grey, b.grey)
        assert a.size_mm == pytest.approx(b.size_mm) and a.position == pytest.approx(b.position)


def test_radiological_puts_the_patients_left_on_the_right():
    image, labels, affine = _stored(*_scan(), "LIA")
    axial, coronal, sagittal = display_panels(image, labels, affine, "radiological")
    assert _half_holding(axial, MARKER) == "right" and _half_holding(coronal, ROD) == "right"
    assert axial.edges == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    assert coronal.edges == {"left": "R", "right": "L", "top": "S", "bottom": "I"}
    # Anterior at the top of the axial panel, superior at the top of the coronal one.
    rows = np.flatnonzero((axial.labels == MARKER).any(axis=1))
    assert rows.max() < axial.labels.shape[0] / 2
    rows = np.flatnonzero((coronal.labels == ROD).any(axis=1))
    assert rows.max() < coronal.labels.shape[0] / 2
    # Sagittal: through the hemisphere with most labels, anterior on the left.
    assert sagittal.edges["left"] == "A" and sagittal.position[0] == "x"
    neurological = display_panels(image, labels, affine, "neurological")
    assert _half_holding(neurological[0], MARKER) == "left"
    assert neurological[0].edges["left"] == "L"
    np.testing.assert_array_equal(neurological[0].labels, axial.labels[:, ::-1])


def test_panels_have_true_proportions():
    image, labels, affine = _scan(spacing=(1.0, 1.0, 2.0))
    axial, coronal, _ = display_panels(image, labels, affine)
    rows, cols = coronal.labels.shape
    assert coronal.size_mm == pytest.approx((cols * 1.0, rows * 2.0))
    assert axial.size_mm == pytest.approx(axial.labels.shape[::-1])


def test_an_extracted_brain_mask_is_outlined():
    image, labels, affine = _scan()
    brain = image > 0  # the phantom's head: wider than the structures
    plain = display_panels(image, labels, affine)
    outlined = display_panels(image, labels, affine, brain_mask=brain)
    for before, after in zip(plain, outlined, strict=True):
        assert before.outline is None and after.outline is not None
        assert after.outline.shape == after.labels.shape and after.outline.any()
        assert after.labels.size >= before.labels.size  # widened to the mask, never cut
    with pytest.raises(ValueError, match="brain_mask shape"):
        display_panels(image, labels, affine, brain_mask=brain[1:])


def test_save_mosaic_states_the_convention(tmp_path):
    image, labels, affine = _stored(*_scan(), "PSR")
    names = {**NAMES, MARKER: "marker", ROD: "rod"}
    path = save_mosaic(image, labels, affine, tmp_path / "Mosaic_sub-01.png", names)
    info = png_info(path)
    assert info is not None and info.text[CONVENTION_KEY] == "radiological"
    assert 880 <= info.width <= 920 and 200 < info.height < 700
    assert [p.name for p in tmp_path.iterdir()] == ["Mosaic_sub-01.png"]

    figure = mosaic_figure(image, labels, affine, names, title="sub-01")
    assert "radiological view: patient's left on the image's right" in figure.get_suptitle()
    axial, coronal, sagittal = figure.axes[:3]
    for ax in (axial, coronal):
        letters = {t.get_text(): t.get_position() for t in ax.texts}
        assert letters["R"][0] < 0.5 < letters["L"][0]
    assert {"A", "P"} <= {t.get_text() for t in sagittal.texts}
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert [t.removesuffix(" (not in slices)") for t in legend] == list(names.values())
    assert "Left-Thalamus" in legend  # in the slices: no remark


def test_empty_labels_and_oblique_affines(tmp_path):
    image, labels, affine = _scan()
    angle = np.deg2rad(12)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    oblique = affine.copy()
    oblique[:3, :3] = rotation @ affine[:3, :3]
    panels = display_panels(image, labels, oblique)
    assert _half_holding(panels[0], MARKER) == "right"
    save_mosaic(image, np.zeros_like(labels), affine, tmp_path / "empty.png")
    assert png_info(tmp_path / "empty.png") is not None


def test_bad_inputs_are_refused_and_nothing_is_written(tmp_path):
    image, labels, affine = _scan()
    with pytest.raises(ValueError, match="labels shape"):
        save_mosaic(image, labels[:-1], affine, tmp_path / "x.png")
    with pytest.raises(ValueError, match="singular"):
        save_mosaic(image, labels, np.zeros((4, 4)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="4x4"):
        save_mosaic(image, labels, np.eye(3), tmp_path / "x.png")
    with pytest.raises(ValueError, match="convention"):
        save_mosaic(image, labels, affine, tmp_path / "x.png", convention="upside-down")
    with pytest.raises(ValueError, match="3-D"):
        save_mosaic(image[0], labels[0], affine, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_non_finite_voxels_are_drawn_as_zero_and_the_input_is_left_alone():
    image, labels, affine = _scan()
    image = image.astype(np.float32)
    spoilt = image.copy()
    spoilt[::3, ::2, ::2] = np.nan
    spoilt[1::3, ::2, ::2] = np.inf
    zeroed = np.where(np.isfinite(spoilt), spoilt, 0).astype(np.float32)
    before = spoilt.copy()
    drawn, expected = display_panels(spoilt, labels, affine), display_panels(zeroed, labels, affine)
    for panel, reference in zip(drawn, expected, strict=True):
        assert np.isfinite(panel.grey).all()
        np.testing.assert_allclose(panel.grey, reference.grey, atol=1e-6)
    np.testing.assert_array_equal(spoilt, before)  # NaN equal NaN here
