"""Argument parsing that reports a bad argument in one line, naming it, and exits with status 2."""

from __future__ import annotations

import argparse
import sys

__all__ = ["ArgumentParser", "image_size", "positive_float", "positive_int"]


class ArgumentParser(argparse.ArgumentParser):
    """``argparse`` without the usage dump on errors: ``prog: error: <what> (see --help)``."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def image_size(text: str) -> tuple[int, int]:
    """'WxH' (as users write sizes) -> (height, width) (as tensors hold them)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 640x192, got '{text}'") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"sizes must be >= 1, got '{text}'")
    return h, w


# --precision and --calibration, the same in every command that loads a model (and the node's
# parameters): depth_core.inference.loading checks each backend's own choices.
PRECISION_CHOICES = ("auto", "fp32", "fp16", "int8")
PRECISION_HELP = ("auto (default: fp16 on TensorRT and on the GPU, fp32 on the CPU) | fp32 | fp16 (GPU) | int8 "
                  "(TensorRT, ONNX Runtime); a precision the backend does not run is an error")
CALIBRATION_HELP = "int8: a frame set or image folder to calibrate on (default: a built-in simulated set)"
