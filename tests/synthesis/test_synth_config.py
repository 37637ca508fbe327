"""The [Label Maps] section (its keys, defaults and checks) and ``livianet synth``."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from synthesis_fixtures import nested_spheres, write_ini, write_map, write_maps

from livianet.cli.main import main
from livianet.config import load_training_config, to_plain
from livianet.errors import ConfigError


def _load(tmp_path: Path, extra: str = "", images: str = "", **kwargs):
    ini = write_ini(tmp_path, tmp_path / "maps", extra, images, **kwargs)
    return load_training_config(ini, label_maps_only=True)


def test_the_section_loads_with_its_defaults(tmp_path):
    synthesis = _load(tmp_path, "generationClasses = [[2, 41], 502]").synthesis
    assert synthesis.map_folders == (tmp_path / "maps",)
    assert synthesis.class_codes == ((10,), (11,), (49,), (50,))
    assert synthesis.class_of_code == {10: 1, 11: 2, 49: 3, 50: 4}
    assert synthesis.generation_classes == ((2, 41), (502,))
    assert synthesis.train_indexes is None and synthesis.validation_indexes == ()
    assert synthesis.share == 1.0  # no real images beside the maps
    assert (synthesis.t1_share, synthesis.flip, synthesis.roi_codes) == (0.0, False, None)
    assert (synthesis.rotation_deg, synthesis.scaling, synthesis.means) == (
        15.0,
        0.2,
        (25.0, 225.0),
    )


def test_codes_may_be_merged_into_one_class(tmp_path):
    synthesis = _load(tmp_path, classes="[[10, 49], [11, 50], 12, 51]").synthesis
    assert synthesis.class_of_code == {10: 1, 49: 1, 11: 2, 50: 2, 12: 3, 51: 4}


def test_beside_real_images_half_of_each_batch_is_synthetic(tmp_path, tiny_dataset):
    images = f"""
        imagesFolder = {tiny_dataset}/MR
        GroundTruthFolder = {tiny_dataset}/Label
        indexesForTraining = [0, 1]
    """
    config = _load(tmp_path, "t1Share = 0.3", images)
    assert config.synthesis.share == 0.5 and config.synthesis.t1_share == 0.3
    assert config.train_indexes == (0, 1) and config.model.in_channels == 1


def test_a_config_without_the_section_stores_what_it_did(tiny_ini):
    config = load_training_config(tiny_ini)
    assert config.synthesis is None
    assert "synthesis" not in to_plain(config)  # checkpoints and logs unchanged


def test_label_maps_alone_are_for_train_and_synth_only(tmp_path):
    ini = write_ini(tmp_path, tmp_path / "maps")
    config = load_training_config(ini, label_maps_only=True)  # what train and synth ask for
    assert config.data.image_folders == () and config.train_indexes == ()
    with pytest.raises(
        ConfigError, match=r"missing section \[Training Images\]; this command needs real images"
    ):
        load_training_config(ini)  # commands that need real scans (cache, dry runs, ...)


@pytest.mark.parametrize(
    ("extra", "classes", "message"),
    [
        ("syntheticShare = 1.5", None, "syntheticShare = '1.5': expected a number >= 0 and <= 1"),
        ("t1Share = -0.1", None, "t1Share = '-0.1': expected a number >= 0 and <= 1"),
        ("", "[10, 10, 49, 50]", "labelClasses: code 10 is in class 1 and class 2"),
        ("", "[10, [11, 49], [49, 50], 12]", "labelClasses: code 49 is in class 2 and class 3"),
        ("generationClasses = [[2, 502], [502, 0]]", None, "code 502 is in group 1 and group 2"),
        ("", "[10, 11, 49]", "labelClasses: 3 entries, expected n_classes - 1 = 4"),
        ("", "[0, 11, 49, 50]", "labelClasses: code 0 is the background"),
        ("", "[10, 11, 49, -50]", "expected a list of label codes"),
        ("labelPairs = [[1, 3]]", None, "labelPairs: needs flipLeftRight = 1"),
        ("flipLeftRight = 1\nlabelPairs = [[1, 5]]", None, "expected classes 1..4"),
        ("syntheticShare = 0.5", None, "no [Training Images] to draw the other 50% of each batch"),
        ("t1Share = 0.5", None, "T1-like priors are estimated from the real"),
        (
            "indexesForTraining = [0, 1]\nindexesForValidation = [1]",
            None,
            "maps [1] are in both indexesForTraining and indexesForValidation",
        ),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path, extra, classes, message):
    kwargs = {"classes": classes} if classes else {}
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, extra, **kwargs)
    text = str(err.value)
    assert message in text and "[Label Maps]" in text and "\n" not in text


# ----------------------------------------------------------------------------- livianet synth


def test_synth_writes_n_images_and_their_label_maps(tmp_path):
    ini = write_ini(tmp_path, write_maps(tmp_path / "maps", 2))
    out = tmp_path / "synth"
    assert main(["synth", str(ini), "--out", str(out), "-n", "3"]) == 0
    images = sorted(out.glob("*_image.nii.gz"))
    labels = sorted(out.glob("*_labels.nii.gz"))
    assert [p.name for p in images] == [
        "synth_000_map_00_image.nii.gz",
        "synth_001_map_01_image.nii.gz",
        "synth_002_map_00_image.nii.gz",
    ]
    assert len(labels) == 3
    for image_path, label_path in zip(images, labels, strict=True):
        image, label = nib.load(str(image_path)), nib.load(str(label_path))
        assert image.shape == label.shape == (28, 28, 28)
        assert np.allclose(image.affine, label.affine)
        assert image.get_data_dtype() == np.float32
        assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1, 2, 3, 4}
    first = np.asarray(nib.load(str(images[0])).dataobj)
    assert main(["synth", str(ini), "--out", str(tmp_path / "again"), "-n", "1"]) == 0
    again = np.asarray(nib.load(str(tmp_path / "again" / images[0].name)).dataobj)
    assert np.array_equal(first, again)  # the INI's seed: the same images


def test_synth_patches_are_what_a_batch_holds(tmp_path):
    ini = write_ini(tmp_path, write_maps(tmp_path / "maps", 1))
    out = tmp_path / "patches"
    assert main(["synth", str(ini), "--out", str(out), "-n", "2", "--patches", "--seed", "4"]) == 0
    assert nib.load(str(out / "patch_001_image.nii.gz")).shape == (13, 13, 13)
    target = nib.load(str(out / "patch_001_target.nii.gz"))
    assert target.shape == (7, 7, 7) and target.affine[0, 3] == 3.0  # centred in the patch


def test_synth_refuses_a_map_without_the_declared_codes(tmp_path, capsys):
    maps = write_maps(tmp_path / "maps", 2)
    codes = nested_spheres()
    codes[codes == 11] = 2
    write_map(maps / "map_01.nii.gz", codes)
    ini = write_ini(tmp_path, maps)
    assert main(["synth", str(ini), "--out", str(tmp_path / "out"), "-n", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("livianet: error: ") and "\n" not in err
    assert "map_01.nii.gz: holds no voxel of code 11, declared for class 2" in err


def test_synth_needs_a_label_maps_section(tiny_ini, tmp_path, capsys):
    assert main(["synth", str(tiny_ini), "--out", str(tmp_path / "out")]) == 1
    assert "no [Label Maps] section" in capsys.readouterr().err
