"""livianet: LiviaNET 3-D fully convolutional networks for brain-structure segmentation in MRI.

A PyTorch re-creation of Dolz, Desrosiers and Ben Ayed, "3D fully convolutional
networks for subcortical segmentation in MRI: a large-scale study" (NeuroImage
2018). Heavy modules (torch) are imported by the subcommands that need them, so
``import livianet`` and ``livianet --help`` stay instant.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
