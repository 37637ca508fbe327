"""The original LiviaNET INI files, written out byte for byte.

``LiviaNET_Config.ini``, ``LiviaNET_Config_NeuroPaper.ini`` and ``LiviaNET_Segmentation.ini`` as
the original project ships them: same sections, key spellings (``Leraning Rate``,
``number Of Epochs``), values, comments, commented-out keys, keys livianet reads but ignores
(``pooling_scales``, ``SoftMax temperature``, ``learning Rate change Type``) and trailing spaces
after some values (written ``\\x20`` below so the source has no trailing whitespace; long lines
are continued with a backslash). The two training files come from one template: they differ only
in architecture, epochs, patch sizes, data folders and indexes. ``tests/test_shared_data.py``
compares these texts with the shared copies, byte for byte, where those are present.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT = "LiviaNET_Config.ini"
NEURO_PAPER = "LiviaNET_Config_NeuroPaper.ini"
SEGMENTATION = "LiviaNET_Segmentation.ini"
NAMES = (DEFAULT, NEURO_PAPER, SEGMENTATION)


def _banner(title: str, left: int) -> str:
    """The original's three-line banner: 140 '#', the title in a 38-wide gap, 140 '#'."""
    rule = "#" * 140
    return f"{rule}\n{'#' * 49}{' ' * left}{title:<{38 - left}}{'#' * 53}\n{rule}"


def _list(values) -> str:
    """A list as the original writes most of them: ``[0,1,2]``, no spaces."""
    return "[" + ",".join(str(v) for v in values) + "]"


TRAINING_TEMPLATE = """\
{network_banner}


############## =================== General Options  =================  ################
[General]
networkName = liviaTest
# Saving Options
folderName = LiviaNet_Test


############## =================== CNN_Architecture  =================  ################
[CNN_Architecture]
numkernelsperlayer = {conv_channels}

# Kernels shapes:  (Note, if kernel size is equal to 1 on one layer means that this layer is \
fully connected)
# In this example there will be 3 conv layers and 1 fully connected layer (+ classification layer)
kernelshapes = {kernel_shapes}

# Intermediate layers to connect to the last conv layer (just before the first fully connected \
layer)
intermediateConnectedLayers = {intermediate_layers}

# In the current implementation it does not support pooling (To be done...)
pooling_scales = [[1,1,1],[1,1,1],[1,1,1]]

# Array size should be equal to number of fully connected (FC) layers + classification layer
dropout_Rates = {dropout_rates}\x20

# Non-linear activations
# Type: 0: Linear
#       1: ReLU
#       2: PReLU
#       3: LeakyReLU
activationType = 2

# TODO. Include activation type for Softmax layer
# Number of classes: background + classes to segment
n_classes = 9

# ------- Weights initialization ----------- #
# There are some ways to initialize the weights. This is defined by the variable \
"weight_Initialization"
# Here, there is a list of supported methods
# 0, Classic
# 1: Delving (He, Kaiming, et al. "Delving deep into rectifiers: Surpassing human-level \
performance on imagenet classification." ICCV'15)
# 2: Load Pre-trained
#      ----------
# There is also the choice of which layers will be initialized with pre-trained weights. This is \
specified in the variable
# "load weight layers". This can be either empty (i.e. all layers will be initialized with \
pre-trained weights in case\x20
# "weight_Initialization" is 1)
weight_Initialization_CNN = 1
weight_Initialization_FCN = 1
#load weight layers = [] # Next release
# If using pre-trained models, specify the folder that contains the weights and the indexes of \
those weights to use
# To ease the transfer between different softwares (i.e matlab for instance), and between \
different architectures,
# the weights for each layer should be stored as a single file.
# Right now weights have to be in .npy format
weights folderName = /~yourpath/trainedWeights
# Same length as conv layers
weights trained indexes = [0,1,2]\x20
#weight_Initialization_Sec = 1

############## =================== Training Options  =================  ################
[Training Parameters]
#n_epochs=20
batch_size=10
number Of Epochs = {epochs}
number Of SubEpochs = {subepochs}\x20
number of samples at each SubEpoch Train = 1000
# TODO. To define some changes in the learning rate
learning Rate change Type = 0
# Subvolumes (i.e. samples) sizes.
# Validation equal to testing samples
sampleSize_Train = {train_patch}
sampleSize_Test  = {test_patch}

# Cost function values
# 0:
# 1:
costFunction = 0\x20
SoftMax temperature = 1.0
#### ========= Learning rate ========== #####
L1 Regularization Constant = 1e-6
L2 Regularization Constant = 1e-4

# TO check
# The array size has to be equal to the total number of layers (i.e. CNNs + FCs + Classification \
layer)
#Leraning Rate = [0.0001, 0.0001, 0.0001, 0.0001,0.0001, 0.0001, 0.0001, 0.0001,0.0001, 0.0001, \
0.0001, 0.0001,0.0001, 0.0001 ]
Leraning Rate = [0.001]
# First epoch to change learning rate
First Epoch Change LR = 1
# Each how many epochs change learning rate
Frequency Change LR = 2
# TODO. Add learning rate for each layer

#### ========= Momentum ========== #####
# Type of momentum
# 0: Classic
# 1: Nesterov
Momentum Type = 1
Momentum Value = 0.6
# Use momentum normalized?
momentumNormalized = 1

#### ======== Optimizer ===== ######
# Type: 0-> SGD
#       1-> RMSProp (TODO. Check why RMSProp complains....)
Optimizer Type = 1

#In case we chose RMSProp
Rho RMSProp = 0.9
Epsilon RMSProp = 1e-4

# Apply Batch normalization
# 0: False, 1: True
applyBatchNormalization = 1
BatchNormEpochs = 20

# Apply padding to images
# 0: False, 1: True
applyPadding = 1

{values_banner}

[Training Images]
imagesFolder = {dataset}/MR/\x20
GroundTruthFolder = {dataset}/Label/
# ROI folder will contain the ROI where to extract the pacthes and where to perform the \
segmentation.
# Values of the ROI should be 0 (non interest) and 1 (region of interest)
ROIFolder = {dataset}/ROI/
# If you have no ROIs
#ROIFolder = []
# Type of images in the dataset
#     0: nifti format
#     1: matlab format
# IMPORTANT: All the volumes should have been saved as 'vol'
imageTypes = 1

# Indexes for training/validation images. Note that indexes should correspond to the position = \
inex + 1 in the folder,
# since python starts indexing at 0
indexesForTraining = {train_indexes}
indexesForValidation = {validation_indexes}

"""

SEGMENTATION_TEMPLATE = """\
{banner}

[Segmentation Images]
imagesFolder = {dataset}/MR/\x20
GroundTruthFolder = {dataset}/Label/
ROIFolder = {dataset}/ROI/

# TODO.
# Type of images in the dataset
#     0: nifit format
#     1: matlab format
imageTypes = 1

# Indexes correspont to position -1 in the folder
indexesToSegment = [6]

# Apply padding to images
# 0: False, 1: True
applyPadding = 1
"""


def training_ini(
    *,
    conv_channels: list[int],
    kernel_shapes: str,
    intermediate_layers: list[int],
    dropout_rates: list[float],
    epochs: int,
    subepochs: int,
    train_patch: int,
    test_patch: int,
    dataset: str,
    train_indexes: list[int],
    validation_indexes: list[int],
) -> str:
    """A training INI in the original's format (``kernel_shapes`` as text: its spacing is odd)."""
    return "\n" + TRAINING_TEMPLATE.format(
        network_banner=_banner("CREATION OF THE NETWORK", 8),
        values_banner=_banner("TRAINING VALUES", 12),
        conv_channels=_list(conv_channels),
        kernel_shapes=kernel_shapes,
        intermediate_layers=_list(intermediate_layers),
        dropout_rates=_list(dropout_rates),
        epochs=epochs,
        subepochs=subepochs,
        train_patch=_list([train_patch] * 3),
        test_patch=_list([test_patch] * 3),
        dataset=dataset,
        train_indexes=_list(train_indexes),
        validation_indexes=_list(validation_indexes),
    )


def segmentation_ini(dataset: str = "/~yourpath/Dataset") -> str:
    return "\n" + SEGMENTATION_TEMPLATE.format(
        banner=_banner("SEGMENTATION PARAMETERS", 9), dataset=dataset
    )


def original_texts() -> dict[str, str]:
    """The three files' texts by name."""
    return {
        DEFAULT: training_ini(
            conv_channels=[10, 20, 30, 100],
            kernel_shapes="[[3, 3, 3], [3, 3, 3], [3, 3, 3], [1]]",
            intermediate_layers=[],
            dropout_rates=[0.25, 0.5],
            epochs=3,
            subepochs=2,
            train_patch=25,
            test_patch=45,
            dataset="/~yourpath/Dataset",
            train_indexes=[0, 1, 2, 3, 4],
            validation_indexes=[5],
        ),
        NEURO_PAPER: training_ini(
            conv_channels=[25, 25, 25, 50, 50, 50, 75, 75, 75, 400, 200, 150],
            kernel_shapes="[[3, 3, 3], [3, 3, 3], [3, 3, 3],[3, 3, 3], [3, 3, 3], [3, 3, 3], "
            "[3, 3, 3], [3, 3, 3], [3, 3, 3], [1],[1],[1]]",
            intermediate_layers=[2, 5],
            dropout_rates=[0.25, 0.25, 0.25, 0.5],
            epochs=30,
            subepochs=20,
            train_patch=27,
            test_patch=35,
            dataset="../Dataset",
            train_indexes=[0, 1, 2, 3, 4, 5],
            validation_indexes=[6],
        ),
        SEGMENTATION: segmentation_ini(),
    }


def write_original_configs(folder: Path) -> Path:
    """Write the three files into ``folder`` (created if needed) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in original_texts().items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
