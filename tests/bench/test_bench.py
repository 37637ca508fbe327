"""The benchmark's pure pieces: the original's tiler, the TorchIO wrapper, work counts.

Both comparison methods must compute exactly what livianet's exact tiler
computes (valid convolutions make every tiling exact), or the benchmark would
compare different work; these checks run a tiny random network with the paper's
receptive field (19, so 35^3 tiles give 17^3 outputs) on small volumes.
"""

from __future__ import annotations

import doctest
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import (
    bound_rows,
    cohort_rows,
    common,
    data,
    geometry_rows,
    lean_method,
    memory,
    original_method,
    report,
    segment_rows,
    torchio_method,
    train_rows,
)
from bench.probes import int8_probe, winograd_probe
from livianet.config import ModelConfig
from livianet.inference import segment_volume
from livianet.networks import build_model

MODULES = (
    common, memory, data, original_method, lean_method, torchio_method, segment_rows,
    bound_rows, geometry_rows, report, train_rows, cohort_rows, int8_probe, winograd_probe,
)  # fmt: skip


@pytest.fixture(scope="module")
def paper_shaped_model():
    """Nine 3^3 conv layers (receptive field 19), the paper's multi-scale links, 3 channels wide."""
    config = ModelConfig(
        conv_channels=(3,) * 9,
        conv_kernels=((3, 3, 3),) * 9,
        fc_channels=(6,),
        num_classes=4,
        dropout_rates=(0.0, 0.0),
        intermediate_layers=(2, 5),
    )
    model = build_model(config, seed=1)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():  # non-trivial batch-norm statistics and PReLU slopes
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.normal_(0, 0.5, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.0, 0.3, generator=generator)
    return model.eval()


def _case(shape, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(1, *shape)).astype(np.float32)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1)
    centre = (np.array(shape) - 1) / 2
    roi = np.linalg.norm((grid - centre) / (np.array(shape) / 2), axis=-1) < 0.8
    return image, roi


def _exact(model, image, roi):
    result = segment_volume(model, image, roi, precision="float32", tile=16, probabilities=True)
    return result.labels, result.dense_probabilities()


def _decided(probabilities: np.ndarray, margin: float = 1e-4) -> np.ndarray:
    """Voxels whose best class leads the second by more than ``margin`` (no float near-tie)."""
    top2 = np.sort(probabilities, axis=0)[-2:]
    return (top2[1] - top2[0]) > margin


def test_doctests():
    for module in MODULES:
        failures, _ = doctest.testmod(module)
        assert failures == 0, module.__name__


def test_original_tile_plan():
    assert (
        original_method.original_padding((256, 256, 256), (19, 19, 19), (35, 35, 35))
        == [(9, 9)] * 3
    )
    assert original_method.axis_starts(274, 35, 17) == [*range(0, 239, 17), 239]
    roi = np.zeros((58, 40, 40), dtype=bool)
    roi[0, 0, 0] = True  # only the first tile on every axis sees it ...
    roi[57, 39, 39] = True  # ... and only the last
    tiles = original_method.original_tiles(roi, (35, 35, 35), (17, 17, 17), batch_size=10)
    # x starts 0, 17, 23; y and z starts 0, 5: only (0,0,0) and the far corner hold ROI.
    assert tiles[:2] == [(0, 0, 0), (23, 5, 5)]
    assert len(tiles) == 10 and tiles[2:] == [(23, 5, 5)] * 8  # padded by the last tile
    full = original_method.original_tiles(
        np.ones((58, 40, 40), bool), (35, 35, 35), (17, 17, 17), 10
    )
    assert full[:4] == [(0, 0, 0), (17, 0, 0), (23, 0, 0), (0, 5, 0)]  # x innermost, z outermost
    assert len(full) == 20 and full[12:] == [(23, 5, 5)] * 8


def test_original_method_matches_exact_tiler(paper_shaped_model):
    image, roi = _case((40, 37, 45))
    exact_labels, exact_probs = _exact(paper_shaped_model, image, roi)
    labels, probs, tiles = original_method.segment_original(
        paper_shaped_model, image, roi, sample=35, batch_size=10, return_probabilities=True
    )
    assert tiles % 10 == 0
    np.testing.assert_allclose(probs[:, roi], exact_probs[:, roi], atol=1e-5)
    decided = roi & _decided(exact_probs)
    assert decided.sum() > 0.99 * roi.sum()
    np.testing.assert_array_equal(labels[decided], exact_labels[decided])

    # A full ROI: every voxel is covered and equals the exact result.
    everywhere = np.ones(roi.shape, dtype=bool)
    exact_labels, exact_probs = _exact(paper_shaped_model, image, None)
    labels, probs, _ = original_method.segment_original(
        paper_shaped_model, image, everywhere, return_probabilities=True
    )
    np.testing.assert_allclose(probs, exact_probs, atol=1e-5)
    decided = _decided(exact_probs)
    np.testing.assert_array_equal(labels[decided], exact_labels[decided])


def test_lean_method_matches_exact_tiler(paper_shaped_model):
    image, roi = _case((40, 37, 45), seed=2)
    exact_labels, exact_probs = _exact(paper_shaped_model, image, roi)
    labels, tiles = lean_method.segment_lean(
        paper_shaped_model, image, roi, sample=35, batch_size=4
    )
    assert labels.dtype == np.uint8
    assert tiles == len(lean_method.output_origins(roi, (17, 17, 17))) <= 3 * 3 * 3
    decided = roi & _decided(exact_probs)
    assert decided.sum() > 0.99 * roi.sum()
    np.testing.assert_array_equal(labels[decided], exact_labels[decided])


def test_torchio_wrapper_matches_exact_tiler(paper_shaped_model):
    pytest.importorskip("torchio")
    image, roi = _case((40, 37, 45), seed=1)
    exact_labels, exact_probs = _exact(paper_shaped_model, image, roi)
    # 32^3 patches: 14^3 outputs, several patches per axis, last ones shifted to the edge.
    labels, patches = torchio_method.segment_torchio(
        paper_shaped_model, image, roi, patch_size=32, batch_size=4
    )
    assert patches == 3 * 3 * 4
    assert not labels[~roi].any()
    decided = roi & _decided(exact_probs)
    assert decided.sum() > 0.99 * roi.sum()
    np.testing.assert_array_equal(labels[decided], exact_labels[decided])


def test_probe_layer_shapes_follow_the_paper_network():
    shapes = int8_probe.layer_shapes("paper")
    assert shapes[:4] == [(1, 25, 3), (25, 25, 3), (25, 25, 3), (25, 50, 3)]
    assert [k for _, _, k in shapes].count(3) == 9
    assert shapes[9] == (75 + 25 + 50, 400, 1)  # the multi-scale links enter the first 1x1x1 layer


def test_winograd_probe_computes_the_convolution():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 14, 10, 18, generator=generator)  # output 12 x 8 x 16: 3 x 2 x 4 blocks
    weight = torch.randn(7, 5, 3, 3, 3, generator=generator)
    x_last, u = x.permute(0, 2, 3, 4, 1), winograd_probe.filter_transform(weight)
    y = winograd_probe.output_transform(
        torch.bmm(winograd_probe.input_transform(x_last), u), (2, 3, 2, 4)
    )
    expected = torch.nn.functional.conv3d(x, weight)
    for result in (y, winograd_probe.sliced(x_last, u, (2, 3, 2, 4))):
        result = result.permute(0, 4, 1, 2, 3)
        assert result.shape == expected.shape
        assert (result - expected).abs().max() < 1e-4 * expected.abs().max()


def test_network_flops_match_torch_counter(paper_shaped_model):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        paper_shaped_model(torch.zeros(1, 1, 25, 25, 25))
    assert common.network_flops(paper_shaped_model.config, 25) == counter.get_total_flops()


def test_livianet_tile_plan_covers_roi(paper_shaped_model):
    _, roi = _case((40, 37, 45))
    tiles = common.livianet_tile_plan(paper_shaped_model, roi, roi.shape, tile=16)
    covered = np.zeros(roi.shape, dtype=bool)
    for tile in tiles:
        covered[tile.window] = True
    assert covered[roi].all()
    assert max(max(t.size) for t in tiles) <= 16


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_livianet_tile_plan_is_what_segment_volume_computes(paper_shaped_model, precision):
    """The bench's copy of livianet's tile plan counts the voxels livianet really computes."""
    from livianet.data import Case, CaseFiles

    # Longer than the largest tile (96) on z, with an ROI-free gap: three tiles, one skipped.
    image, roi = _case((30, 30, 250))
    roi[:, :, 80:170] = False
    files = CaseFiles(index=0, images=(Path("x.mat"),), label=None, roi=None)
    case = Case(files=files, image=image, label=None, roi=roi, reference=None)
    _, _, computed = segment_rows.timed_segmentation(paper_shaped_model, case, precision)
    tiles = common.livianet_tile_plan(paper_shaped_model, roi, roi.shape, precision)
    assert computed["forward_passes"] == len(tiles) == 2
    assert computed["voxels"] == sum(int(np.prod(t.size)) for t in tiles)


def test_restrict_roi_fractions():
    _, roi = _case((30, 30, 40))
    for fraction in (0.25, 0.5):
        part = common.restrict_roi(roi, fraction)
        assert not (part & ~roi).any()
        assert fraction <= part.sum() / roi.sum() < fraction + 0.1
    with pytest.raises(ValueError, match="fraction 0"):
        common.restrict_roi(roi, 0)


def test_bound_child_measures_in_a_fresh_process(tmp_path):
    """Row (d) runs in its own process and reports the bound and (a)'s compute alone."""
    import scipy.io

    checkpoint = train_rows.quick_checkpoint(tmp_path / "quick.pt")
    rng = np.random.default_rng(0)
    image = rng.normal(100.0, 20.0, (30, 26, 22)).astype(np.float32)
    roi = np.zeros(image.shape, np.uint8)
    roi[5:25, 6:20, 4:18] = 1
    scipy.io.savemat(tmp_path / "MR_Img1.mat", {"vol": image})
    scipy.io.savemat(tmp_path / "ROI_Img1.mat", {"vol": roi})
    out = tmp_path / "bound.json"
    subprocess.run(
        common.bench_command("bound_child", str(checkpoint),
                             str(tmp_path / "MR_Img1.mat"), str(tmp_path / "ROI_Img1.mat"),
                             "--tiles", "4", "6", "--seconds", "0.05", "--out", str(out)),
        check=True, capture_output=True, cwd=tmp_path, env=common.bench_env(),
    )  # fmt: skip
    bound = json.loads(out.read_text())
    assert [row["output_side"] for row in bound["tiles"]] == [4, 6]
    assert bound["best"]["output_voxels_per_s"] > 0
    # the whole 20x14x14 ROI box is computed, at least once
    assert bound["computed_voxels"] >= 20 * 14 * 14
    assert bound["forward_passes"] >= 1
    assert bound["livianet_compute_seconds_in_process"] > 0


def test_a_geometry_only_run_reports_its_rows_and_targets():
    row = {"seconds": 20.0, "peak_rss_bytes": 2**30}
    result = {
        "machine": {"cpu_model": "cpu", "logical_cores": 2, "torch": "2", "torch_threads": 2,
                    "amx_flags": [], "load_average": [0.0]},
        "scan": {"image": "t1", "shape": [4, 4, 4], "roi_voxels": 8},
        "weights": {"source": "given", "checkpoint": "m.pt"},
        "settings": {},
        "geometry": {"as_model": row, "lia_coarse": {**row, "seconds": 22.0}, "overhead": 0.1,
                     "builtin": {**row, "seconds": 31.0}},
    }  # fmt: skip
    result["targets"] = report.evaluate_targets(result)
    verdicts = {t["name"]: t["pass"] for t in result["targets"]}
    assert verdicts["(e) extra time for a scan that needs reorienting and resampling"] is True
    assert verdicts["(e) built-in model, 256^3 LIA scan, s/scan end to end"] is False
    assert verdicts["(a) speed-up over the original's method (faster of b, b'), end to end"] is None
    text = report.format_report(result)
    assert "(e) built-in model, LIA at 1 mm" in text and "+10%" in text


def test_a_cohort_run_segments_every_scan_in_one_call_and_reports_it(tmp_path):
    """Five small .mat cases in four orientations, cycled to 22 scans: one call writes them all."""
    from conftest import write_example_data  # type: ignore[import-not-found]  # tests/, on pytest's path

    data = write_example_data(tmp_path / "data").root
    checkpoint = train_rows.quick_checkpoint(tmp_path / "quick.pt")
    (tmp_path / "work" / "logs").mkdir(parents=True)
    row = cohort_rows.cohort_row(checkpoint, data, "ILA", 22, tmp_path / "work")
    assert row["returncode"] == 0 and row["single"]["returncode"] == 0, row
    assert row["scans"] == 22 and row["written"] == 22
    assert row["seconds_per_scan"] == pytest.approx(row["seconds"] / 22)
    names = sorted(p.name for p in (tmp_path / "work" / "cohort").glob("*_T1.nii.gz"))
    assert (
        len(names) == 22
        and any("_PSR_" in n for n in names)
        and sum(n.startswith("copy") for n in names) == 2
    )
    text = "\n".join(report._cohort({"cohort": row}))
    assert "22 scans" in text and "s/scan" in text and "faster" in text
