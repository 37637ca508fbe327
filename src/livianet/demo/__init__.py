"""``livianet demo``: built-in example data and the end-to-end run."""

from livianet.demo.dataset import DEMO_CAVEAT, build_default_dataset
from livianet.demo.run import DemoOptions, run_demo

__all__ = [
    "DEMO_CAVEAT",
    "DemoOptions",
    "build_default_dataset",
    "run_demo",
]
