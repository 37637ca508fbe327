"""Every INI key livianet reads: the original LiviaNET keys and our additions, in one table.

Option names are matched case-insensitively and without spaces or underscores
(``number Of Epochs`` = ``numberOfEpochs`` = ``number_of_epochs``), so the
original files load unchanged and the oddities (``Leraning Rate``) never leak
into code. ``docs/config.md`` is generated from this table
(``python -m livianet.config.docs``) and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livianet.config import values as v

REQUIRED = object()

GENERAL = "General"
ARCHITECTURE = "CNN_Architecture"
TRAINING = "Training Parameters"
TRAINING_IMAGES = "Training Images"
SEGMENTATION_IMAGES = "Segmentation Images"
LABEL_MAPS = "Label Maps"
SECTIONS = (GENERAL, ARCHITECTURE, TRAINING, TRAINING_IMAGES, SEGMENTATION_IMAGES, LABEL_MAPS)

ACTIVATIONS = v.choice(
    {0: "linear", 1: "relu", 2: "prelu", 3: "leaky_relu"},
    {
        "linear": "linear",
        "relu": "relu",
        "prelu": "prelu",
        "leaky_relu": "leaky_relu",
        "leakyrelu": "leaky_relu",
        "elu": "elu",
        "silu": "silu",
        "gelu": "gelu",
    },
)
CONV_INIT = v.choice(
    {0: "classic", 1: "he", 2: "pretrained"},
    {
        "classic": "classic",
        "he": "he",
        "delving": "he",
        "kaiming": "he",
        "pretrained": "pretrained",
    },
)
FC_INIT = v.choice(
    {0: "classic", 1: "he"}, {"classic": "classic", "he": "he", "delving": "he", "kaiming": "he"}
)
OPTIMIZERS = v.choice(
    {0: "sgd", 1: "rmsprop", 2: "rmsprop"},
    {"sgd": "sgd", "rmsprop": "rmsprop", "adam": "adam", "adamw": "adamw"},
)
MOMENTUM_TYPES = v.choice(
    {0: "classic", 1: "nesterov"}, {"classic": "classic", "nesterov": "nesterov"}
)
COST_FUNCTIONS = v.choice(
    {0: "ce"}, {"ce": "ce", "nll": "ce", "cross_entropy": "ce", "dice_ce": "dice_ce"}
)
LR_SCHEDULES = v.choice(
    {0: "halving"},
    {
        "halving": "halving",
        "step": "halving",
        "poly": "poly",
        "cosine": "cosine",
        "constant": "constant",
    },
)
IMAGE_TYPES = v.choice({0: "nifti", 1: "mat"}, {"nifti": "nifti", "mat": "mat", "matlab": "mat"})
SAMPLING = v.choice(
    {},
    {
        "foreground_background": "foreground_background",
        "original": "foreground_background",
        "class_balanced": "class_balanced",
        "balanced": "class_balanced",
    },
)
NORMALIZATION = v.choice({}, {"none": "none", "zscore": "zscore", "z_score": "zscore"})
PRECISION = v.choice(
    {},
    {
        "auto": "auto",
        "float32": "float32",
        "fp32": "float32",
        "bf16": "bf16",
        "bfloat16": "bf16",
        "fp16": "fp16",
        "float16": "fp16",
    },
)


@dataclass(frozen=True)
class Key:
    """One INI option: where it lives, how it is read, and what it means."""

    section: str
    name: str
    field: str
    parse: Any
    default: Any
    doc: str
    origin: str = "original"  # "original", "new", or "ignored" (read, no effect)


def normalise(name: str) -> str:
    """Key used for matching option names: lower case, no spaces or underscores."""
    return "".join(ch for ch in name.lower() if ch not in " _\t-")


def _data_keys(section: str, indexes: tuple[Key, ...]) -> tuple[Key, ...]:
    return (
        Key(
            section,
            "imagesFolder",
            "image_folders",
            v.path_list,
            REQUIRED,
            "Folder of input images; a JSON list of folders gives one input channel per folder "
            "(files paired by sorted position; the subjects their names give, without a role prefix "
            "such as MR_/GT_/ROI_, must agree).",
        ),
        Key(
            section,
            "GroundTruthFolder",
            "label_folder",
            v.path_or_none,
            REQUIRED if section == TRAINING_IMAGES else None,
            "Folder of label maps (integers 0..n_classes-1)."
            + (
                " Optional for segmentation: Dice is reported when given."
                if section == SEGMENTATION_IMAGES
                else ""
            ),
        ),
        Key(
            section,
            "ROIFolder",
            "roi_folder",
            v.path_or_none,
            None,
            "Folder of ROI masks (nonzero = inside); `[]` or absent means the whole image.",
        ),
        Key(
            section,
            "labelMapping",
            "label_mapping",
            v.path_or_none,
            None,
            "A `label_mapping.json` (original code: consecutive label) stored with the model, so "
            "that `segment --original-labels` writes the original codes; absent: the label folder's "
            "own `label_mapping.json` (as `livianet labels` writes it), if any.",
            "new",
        ),
        Key(
            section,
            "orientation",
            "orientation",
            v.axis_codes_or_none,
            None,
            "Axis codes of `.mat` arrays, which store no affine: `ILA` means axis 0 runs toward "
            "Inferior, axis 1 toward Left, axis 2 toward Anterior (the original example's arrays). "
            "NIfTI and MGZ files use their own affine. Not given: `.mat` arrays are used as stored, "
            "as the original did, and the model's orientation is unknown (no left/right flips with "
            "label swaps; scans are not reoriented).",
            "new",
        ),
        Key(
            section,
            "imageTypes",
            "image_type",
            IMAGE_TYPES,
            None,
            "0 NIfTI, 1 MATLAB. Read for compatibility; livianet reads each file by its suffix.",
            "ignored",
        ),
        *indexes,
    )


def _label_map_keys() -> tuple[Key, ...]:
    """``[Label Maps]``: training images drawn from label maps (domain randomisation)."""
    m = LABEL_MAPS
    return (
        Key(
            m,
            "labelMapsFolder",
            "map_folders",
            v.path_list,
            REQUIRED,
            "Folder of label maps (NIfTI or MGZ, integer codes such as FreeSurfer's); a JSON list "
            "of folders pools them. Maps are numbered by sorted position, folder after folder.",
            "new",
        ),
        Key(
            m,
            "labelClasses",
            "class_codes",
            v.code_groups,
            REQUIRED,
            "The codes of model classes 1, 2, ...: entry k is class k+1's code, or a list of codes "
            "merged into it; `n_classes - 1` entries. `[10, 11, 12, 13, 49, 50, 51, 52]`: "
            "FreeSurfer's left and right thalamus, caudate, putamen, pallidum as classes 1-8. "
            "Every other code is background for the loss but keeps its own intensity.",
            "new",
        ),
        Key(
            m,
            "generationClasses",
            "generation_classes",
            v.code_groups,
            (),
            "Groups of codes that share one intensity in each synthetic image (SynthSeg's "
            "generation classes), e.g. `[[2, 41], [3, 42]]`; a code in no group has its own.",
            "new",
        ),
        Key(
            m,
            "indexesForTraining",
            "train_indexes",
            v.optional_int_list(0),
            None,
            "Positions of the maps that training patches are drawn from; not given: every map "
            "not in `indexesForValidation`.",
            "new",
        ),
        Key(
            m,
            "indexesForValidation",
            "validation_indexes",
            v.int_list(0),
            (),
            "Positions of held-out maps, rendered once with fixed seeds (their shapes kept) as "
            "validation cases, beside the real validation scans of [Training Images] if any.",
            "new",
        ),
        Key(
            m,
            "roiCodes",
            "roi_codes",
            v.optional_codes,
            None,
            "Codes whose voxels form the ROI: z-score statistics and background patch centres "
            "come from it, as from ROI masks; not given: every nonzero code (the whole head, as "
            "a scan without ROI).",
            "new",
        ),
        Key(
            m,
            "syntheticShare",
            "share",
            v.optional_number(0.0, 1.0),
            None,
            "Share of each sub-epoch's training patches drawn from the maps, the rest from the "
            "real cases; not given: 1 without [Training Images], 0.5 with. 1 with [Training "
            "Images]: the real scans only set the model's grid, the priors and validation.",
            "new",
        ),
        Key(
            m,
            "t1Share",
            "t1_share",
            v.number(0.0, 1.0),
            0.0,
            "Share of synthetic patches whose intensities follow T1-like priors, estimated from "
            "the real training scans of [Training Images]; the others draw every intensity at "
            "random.",
            "new",
        ),
        Key(
            m,
            "skullStrippedShare",
            "skull_stripped_share",
            v.number(0.0, 1.0),
            0.0,
            "Share of synthetic patches set to 0 outside the ROI, as brain-extracted scans.",
            "new",
        ),
        Key(
            m,
            "flipLeftRight",
            "flip",
            v.flag,
            False,
            "1: mirror patches left-right (probability 0.5), swapping `labelPairs`.",
            "new",
        ),
        Key(
            m,
            "labelPairs",
            "label_pairs",
            v.label_pairs,
            (),
            "Left/right class pairs swapped by a flip, e.g. `[[1, 5], [2, 6], [3, 7], [4, 8]]`.",
            "new",
        ),
        Key(
            m,
            "synthRotation",
            "rotation_deg",
            v.number(0.0, 180.0),
            15.0,
            "Largest rotation about each axis, degrees.",
            "new",
        ),
        Key(
            m,
            "synthScaling",
            "scaling",
            v.number(0.0, 0.5),
            0.2,
            "Largest relative change of size per axis.",
            "new",
        ),
        Key(m, "synthShear", "shear", v.number(0.0, 0.5), 0.012, "Largest shear.", "new"),
        Key(
            m,
            "synthElastic",
            "elastic_mm",
            v.number(0.0, 20.0),
            3.0,
            "Largest SD (mm) of a smooth elastic displacement: random vectors on a 24 mm grid, "
            "interpolated.",
            "new",
        ),
        Key(
            m,
            "synthMeans",
            "means",
            v.number_range(0.0, 1000.0),
            (25.0, 225.0),
            "`[low, high]` of each generation class's random mean intensity (arbitrary units: "
            "images are normalised afterwards as real scans are).",
            "new",
        ),
        Key(
            m,
            "synthStds",
            "stds",
            v.number_range(0.0, 1000.0),
            (5.0, 25.0),
            "`[low, high]` of each generation class's random intensity SD.",
            "new",
        ),
        Key(
            m,
            "synthBiasField",
            "bias_field",
            v.number(0.0, 2.0),
            0.5,
            "Largest SD of a smooth log bias field (control points 48 mm apart).",
            "new",
        ),
        Key(
            m,
            "synthGamma",
            "gamma",
            v.number(0.0, 2.0),
            0.5,
            "Random contrast: gamma = exp(U(-g, g)).",
            "new",
        ),
        Key(
            m,
            "synthNoise",
            "noise",
            v.number(0.0, 100.0),
            5.0,
            "Largest Gaussian noise SD (units of `synthMeans`), added at the simulated "
            "acquisition's resolution.",
            "new",
        ),
        Key(
            m,
            "synthMaxVoxelSize",
            "max_voxel_size",
            v.number(0.0, 20.0),
            4.0,
            "Largest isotropic voxel size (mm) of a simulated acquisition (blurred, "
            "down-sampled and brought back to the model's grid).",
            "new",
        ),
        Key(
            m,
            "synthMaxSliceSpacing",
            "max_slice_spacing",
            v.number(0.0, 20.0),
            8.0,
            "Largest slice spacing (mm) of a simulated acquisition with thick slices along one "
            "random axis.",
            "new",
        ),
    )


KEYS: tuple[Key, ...] = (
    Key(
        GENERAL,
        "networkName",
        "network_name",
        v.name_like,
        REQUIRED,
        "Name of the network; prefixes checkpoint and report files.",
    ),
    Key(
        GENERAL,
        "folderName",
        "folder_name",
        v.name_like,
        REQUIRED,
        "Run folder under the output root.",
    ),
    Key(
        GENERAL,
        "outputRoot",
        "output_root",
        v.path_or_none,
        "outputFiles",
        "Folder that holds run folders; relative paths resolve against the current directory, as the original's `./outputFiles`.",
        "new",
    ),
    Key(
        GENERAL,
        "seed",
        "seed",
        v.integer(0),
        0,
        "Seed for initialisation, sampling, augmentation and dropout.",
        "new",
    ),
    # --- architecture ---
    Key(
        ARCHITECTURE,
        "numkernelsperlayer",
        "channels",
        v.int_list(1, allow_empty=False),
        REQUIRED,
        "Output channels of each layer (conv layers, then 1x1x1 layers).",
    ),
    Key(
        ARCHITECTURE,
        "kernelshapes",
        "kernel_shapes",
        v.kernel_shapes,
        REQUIRED,
        "Kernel shape per layer: `[3, 3, 3]` is a conv layer, `[1]` a 1x1x1 layer; conv layers come first.",
    ),
    Key(
        ARCHITECTURE,
        "intermediateConnectedLayers",
        "intermediate_layers",
        v.int_list(0),
        (),
        "Conv layers (0-based) whose outputs are centre-cropped and concatenated to the last conv output (multi-scale).",
    ),
    Key(
        ARCHITECTURE,
        "pooling_scales",
        "pooling_scales",
        v.json_or_text,
        None,
        "Read for compatibility; the network has no pooling (as the original).",
        "ignored",
    ),
    Key(
        ARCHITECTURE,
        "dropout_Rates",
        "dropout_rates",
        v.number_list(0.0, 0.99),
        REQUIRED,
        "Dropout rate on the input of each 1x1x1 layer and of the classifier (one per 1x1x1 layer + 1).",
    ),
    Key(
        ARCHITECTURE,
        "activationType",
        "activation",
        ACTIVATIONS,
        "prelu",
        "0 linear, 1 ReLU, 2 PReLU, 3 LeakyReLU (slope 0.2); also by name, and `elu`, `silu`, `gelu`.",
    ),
    Key(
        ARCHITECTURE,
        "n_classes",
        "num_classes",
        v.integer(2),
        REQUIRED,
        "Number of classes including background.",
    ),
    Key(
        ARCHITECTURE,
        "weight_Initialization_CNN",
        "conv_init",
        CONV_INIT,
        "he",
        "Conv weights: 0 classic N(0, 0.01), 1 He (Delving), 2 load per-layer `.npy` files from `weights folderName`.",
    ),
    Key(
        ARCHITECTURE,
        "weight_Initialization_FCN",
        "fc_init",
        FC_INIT,
        "he",
        "1x1x1 and classifier weights: 0 classic, 1 He.",
    ),
    Key(
        ARCHITECTURE,
        "weights folderName",
        "weights_folder",
        v.path_or_none,
        None,
        "Folder of per-layer `.npy` weights (sorted by name) used when `weight_Initialization_CNN = 2`.",
    ),
    Key(
        ARCHITECTURE,
        "weights trained indexes",
        "weights_indexes",
        v.int_list(0),
        (),
        "For conv layer i, the position in that folder of the file to load.",
    ),
    Key(
        ARCHITECTURE,
        "load weight layers",
        "load_weight_layers",
        v.json_or_text,
        None,
        'Commented out in the original ("next release"); read and ignored.',
        "ignored",
    ),
    Key(
        ARCHITECTURE,
        "freezeTransferredLayers",
        "freeze_transferred",
        v.flag,
        False,
        "1: layers loaded from `.npy` files or `initFromCheckpoint` are not trained.",
        "new",
    ),
    Key(
        ARCHITECTURE,
        "initFromCheckpoint",
        "init_from",
        v.path_or_none,
        None,
        "A livianet checkpoint whose layers with matching names and shapes initialise this network.",
        "new",
    ),
    # --- training ---
    Key(TRAINING, "batch_size", "batch_size", v.integer(1), 10, "Patches per optimisation step."),
    Key(
        TRAINING,
        "number Of Epochs",
        "num_epochs",
        v.integer(1),
        3,
        "Total epochs; a resumed run trains only the remaining ones (the original ran this many more).",
    ),
    Key(
        TRAINING,
        "number Of SubEpochs",
        "num_subepochs",
        v.integer(1),
        2,
        "Sub-epochs per epoch; patches are drawn anew for each.",
    ),
    Key(
        TRAINING,
        "number of samples at each SubEpoch Train",
        "samples_per_subepoch",
        v.integer(1),
        1000,
        "Patches drawn per sub-epoch (N // batch_size steps).",
    ),
    Key(
        TRAINING,
        "learning Rate change Type",
        "lr_schedule",
        LR_SCHEDULES,
        "halving",
        "0 or `halving`: the original's halving (see `First Epoch Change LR`); also `poly`, `cosine`, `constant`. Never read by the original.",
    ),
    Key(
        TRAINING,
        "sampleSize_Train",
        "patch_size",
        v.size3,
        (25, 25, 25),
        "Training patch size in voxels (input side).",
    ),
    Key(
        TRAINING,
        "sampleSize_Test",
        "segment_patch_size",
        v.size3,
        (45, 45, 45),
        "Patch size the original segmented with. livianet's tiles are sized for speed; this sets the minimum tile (`--tile` overrides).",
    ),
    Key(
        TRAINING,
        "costFunction",
        "loss",
        COST_FUNCTIONS,
        "ce",
        "0 cross-entropy (negative log-likelihood); `dice_ce` adds soft Dice. The original's 1 was undefined.",
    ),
    Key(
        TRAINING,
        "classWeights",
        "class_weights",
        v.optional_number_list(0.0),
        None,
        "Cross-entropy weight per class (n_classes values); absent = all 1.",
        "new",
    ),
    Key(
        TRAINING,
        "SoftMax temperature",
        "softmax_temperature",
        v.number(0.0, strict_min=True),
        1.0,
        "Read for compatibility; the original hard-coded 1.0 and so does livianet.",
        "ignored",
    ),
    Key(
        TRAINING,
        "L1 Regularization Constant",
        "l1",
        v.number(0.0),
        0.0,
        "L1 penalty on all weights (biases, BN and PReLU excluded).",
    ),
    Key(
        TRAINING,
        "L2 Regularization Constant",
        "l2",
        v.number(0.0),
        0.0,
        "L2 penalty on all weights (no 1/2 factor, as the original).",
    ),
    Key(
        TRAINING,
        "Leraning Rate",
        "learning_rate",
        v.number_list(0.0),
        (1e-3,),
        "Learning rate (sic: the original's spelling; `Learning Rate` is accepted too). A list uses its first value.",
    ),
    Key(
        TRAINING,
        "First Epoch Change LR",
        "first_epoch_change_lr",
        v.integer(0),
        1,
        "Halving schedule: first epoch (0-based) after which lr is halved.",
    ),
    Key(
        TRAINING,
        "Frequency Change LR",
        "frequency_change_lr",
        v.integer(1),
        2,
        "Halving schedule: epochs between later halvings.",
    ),
    Key(
        TRAINING,
        "Momentum Type",
        "momentum_type",
        MOMENTUM_TYPES,
        "nesterov",
        "0 classic, 1 Nesterov.",
    ),
    Key(
        TRAINING,
        "Momentum Value",
        "momentum",
        v.number(0.0, 0.999),
        0.6,
        "Momentum (SGD, RMSprop); beta1 for Adam/AdamW.",
    ),
    Key(
        TRAINING,
        "momentumNormalized",
        "momentum_normalized",
        v.flag,
        True,
        "1: scale steps by (1 - momentum), as the original.",
    ),
    Key(
        TRAINING,
        "Optimizer Type",
        "optimizer",
        OPTIMIZERS,
        "rmsprop",
        "0 SGD, 1 RMSprop (2 = 1, as the original); also `adam`, `adamw`.",
    ),
    Key(
        TRAINING,
        "Rho RMSProp",
        "rho",
        v.number(0.0, 0.9999),
        0.9,
        "RMSprop decay of the squared-gradient average.",
    ),
    Key(
        TRAINING,
        "Epsilon RMSProp",
        "epsilon",
        v.number(0.0, strict_min=True),
        1e-4,
        "RMSprop epsilon (inside the square root, as the original).",
    ),
    Key(
        TRAINING,
        "applyBatchNormalization",
        "batch_norm",
        v.flag,
        True,
        "1: batch norm before each layer's activation.",
    ),
    Key(
        TRAINING,
        "BatchNormEpochs",
        "batch_norm_epochs",
        v.integer(1),
        20,
        "Batch-norm running statistics use momentum 1/BatchNormEpochs (the original averaged the last this-many batches).",
    ),
    Key(
        TRAINING,
        "applyPadding",
        "apply_padding",
        v.flag,
        True,
        "1: reflect-pad volumes by the receptive field so borders are segmented.",
    ),
    Key(
        TRAINING,
        "weightDecay",
        "weight_decay",
        v.number(0.0),
        0.0,
        "Decoupled weight decay for AdamW (coupled for Adam).",
        "new",
    ),
    Key(
        TRAINING,
        "minLearningRate",
        "min_learning_rate",
        v.number(0.0),
        0.0,
        "Floor for poly and cosine schedules.",
        "new",
    ),
    Key(
        TRAINING,
        "warmupEpochs",
        "warmup_epochs",
        v.integer(0),
        0,
        "Epochs of linear learning-rate warm-up (poly, cosine).",
        "new",
    ),
    Key(
        TRAINING,
        "sampling",
        "sampling",
        SAMPLING,
        "foreground_background",
        "`foreground_background`: the original's 50 % foreground / 50 % background-in-ROI centres; `class_balanced`: each class equally likely.",
        "new",
    ),
    Key(
        TRAINING,
        "foregroundFraction",
        "foreground_fraction",
        v.number(0.0, 1.0),
        0.5,
        "Share of foreground centres for `foreground_background` sampling.",
        "new",
    ),
    Key(
        TRAINING,
        "normalization",
        "normalization",
        NORMALIZATION,
        "none",
        "`none` (the original: raw intensities) or `zscore` inside the ROI (nonzero voxels without ROI), same in training and segmentation.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentFlipAxes",
        "flip_axes",
        v.axes,
        (),
        "Axes randomly flipped (probability 0.5 each), e.g. [0]: axes of the RAS training space "
        "(0 left-right, 1 posterior-anterior, 2 inferior-superior), or of the stored arrays when "
        "their orientation is unknown.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentLabelPairs",
        "flip_label_pairs",
        v.label_pairs,
        (),
        "Left/right label pairs swapped when the left-right axis (0 in the RAS training space) is "
        "flipped, e.g. [[1,5],[2,6],[3,7],[4,8]]; needs axis 0 in `augmentFlipAxes` and scans of "
        "known orientation. Also used by `segment --tta`.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentIntensity",
        "intensity_augment",
        v.number_list(0.0, 1.0),
        (0.0, 0.0),
        "[scale, shift]: multiply patches by 1+U(-scale, scale) and add U(-shift, shift) standard deviations.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentRotation",
        "augment_rotation",
        v.number(0.0, 45.0),
        0.0,
        "Largest random rotation of a patch about each axis, in degrees (0: none), e.g. 10.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentScaling",
        "augment_scaling",
        v.number(0.0, 0.5),
        0.0,
        "Largest random change of size per axis, as a fraction (0: none), e.g. 0.1 for +-10 %.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentGamma",
        "augment_gamma",
        v.number(0.0, 2.0),
        0.0,
        "Random contrast: gamma = exp(U(-g, g)) applied on each patch's intensity range (0: none), e.g. 0.3.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentBiasField",
        "augment_bias_field",
        v.number(0.0, 1.0),
        0.0,
        "Random smooth multiplicative field across a patch (log-amplitude up to this), as coil bias (0: none), e.g. 0.3.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentNoise",
        "augment_noise",
        v.number(0.0, 1.0),
        0.0,
        "Random Gaussian noise, SD up to this in z-score units (0: none), e.g. 0.1.",
        "new",
    ),
    Key(
        TRAINING,
        "augmentBlur",
        "augment_blur",
        v.number(0.0, 3.0),
        0.0,
        "Random Gaussian blur, sigma up to this in voxels per axis, as thicker slices or another scanner's resolution (0: none), e.g. 1.",
        "new",
    ),
    Key(
        TRAINING,
        "earlyStoppingPatience",
        "early_stopping_patience",
        v.optional_integer(1),
        None,
        "Stop after this many epochs without a better validation Dice (absent: never).",
        "new",
    ),
    Key(
        TRAINING,
        "precision",
        "precision",
        PRECISION,
        "auto",
        "`auto` (bf16 autocast where the CPU or GPU runs it faster), `float32`, `bf16`, `fp16` (CUDA).",
        "new",
    ),
    Key(
        TRAINING,
        "nonFiniteLoss",
        "non_finite_loss",
        v.choice({}, {"stop": "stop", "skip": "skip"}),
        "stop",
        "`stop`: a NaN/Inf loss ends training with an error (the last checkpoint stays); `skip`: the batch is skipped and logged.",
        "new",
    ),
    Key(
        TRAINING,
        "validationFrequency",
        "validation_frequency",
        v.integer(1),
        1,
        "Validate every this many epochs (and after the last).",
        "new",
    ),
    Key(
        TRAINING,
        "largestComponent",
        "largest_component",
        v.flag,
        False,
        "Keep each class's largest connected component in validation and segmentation outputs.",
        "new",
    ),
    Key(
        TRAINING,
        "cache",
        "cache",
        v.flag,
        True,
        "Preprocess each case once (model grid, normalisation, cut to what training reads) into a "
        "cache folder and read patches from it through memory maps, so memory stays flat however "
        "many cases there are; `0`: hold every case in memory instead.",
        "new",
    ),
    Key(
        TRAINING,
        "cacheFolder",
        "cache_folder",
        v.path_or_none,
        None,
        "Where the cache lives; not given: `cache` in the run folder. Runs (and `livianet cache`) "
        "that share a folder preprocess each case once; relative paths resolve against the config's "
        "folder. `--cache DIR` overrides it.",
        "new",
    ),
    Key(
        TRAINING,
        "cacheDtype",
        "cache_dtype",
        v.choice(
            {}, {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16"}
        ),
        "float32",
        "Type of the cached images: `float32` trains on exactly the in-memory patches; `float16` "
        "halves the cache (patches within float16's rounding of them).",
        "new",
    ),
    # --- data ---
    *_data_keys(
        TRAINING_IMAGES,
        (
            Key(
                TRAINING_IMAGES,
                "indexesForTraining",
                "train_indexes",
                v.int_list(0, allow_empty=False),
                REQUIRED,
                "Positions (0-based, in each folder's sorted listing) of training cases.",
            ),
            Key(
                TRAINING_IMAGES,
                "indexesForValidation",
                "validation_indexes",
                v.int_list(0),
                (),
                "Positions of validation cases, segmented after each epoch.",
            ),
        ),
    ),
    *_data_keys(
        SEGMENTATION_IMAGES,
        (
            Key(
                SEGMENTATION_IMAGES,
                "indexesToSegment",
                "indexes",
                v.int_list(0, allow_empty=False),
                REQUIRED,
                "Positions of the cases to segment.",
            ),
            Key(
                SEGMENTATION_IMAGES,
                "applyPadding",
                "apply_padding",
                v.flag,
                True,
                "Read for compatibility: segmentation always pads, as the original.",
                "ignored",
            ),
        ),
    ),
    *_label_map_keys(),
)

# Other spellings accepted for a key: (section, alias as written) -> key name.
ALIAS_NAMES = {
    (TRAINING, "Learning Rate"): "Leraning Rate",
}
ALIASES = {
    (section, normalise(alias)): normalise(name) for (section, alias), name in ALIAS_NAMES.items()
}


def keys_by_section() -> dict[str, dict[str, Key]]:
    """``{section: {normalised option name: Key}}``."""
    table: dict[str, dict[str, Key]] = {section: {} for section in SECTIONS}
    for key in KEYS:
        table[key.section][normalise(key.name)] = key
    return table
