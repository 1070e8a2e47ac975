"""Audio front ends (STFTSpectrogram, MelSpectrogram): the input length their frames need.

Both layers are exported as they are (STFTSpectrogram as a framed real DFT, MatMul with a constant
basis; MelSpectrogram only to TFLite, see `edgeprep.transforms.coverage`). What the family adds is
the parity samples' shape: a dynamic time axis gets room for ``FRAMES`` frames,

    length = frame_length + (FRAMES - 1) * frame_step

(STFTSpectrogram: ``frame_length``, ``frame_step`` defaulting to ``frame_length // 2``, time axis 1
for channels_last, 2 for channels_first; MelSpectrogram: ``sequence_length`` defaulting to
``fft_length``, ``sequence_stride``, time axis 1). A generic size of 8 is shorter than any frame,
and ``padding="valid"`` then has no frame to compute.
"""

from __future__ import annotations

from edgeprep.families.base import Family

FRAMES = 4


def shape_hint(layer, row_shape: tuple) -> tuple | None:
    """``row_shape`` (no batch axis) with a dynamic time axis sized for `FRAMES` frames, or None."""
    config = layer.get_config()
    if type(layer).__name__ == "STFTSpectrogram":
        frame, step = int(config["frame_length"]), int(config.get("frame_step") or config["frame_length"] // 2)
        axis = 1 if config.get("data_format") == "channels_first" else 0
    else:
        frame = int(config.get("sequence_length") or config["fft_length"])
        step, axis = int(config["sequence_stride"]), 0
    if axis >= len(row_shape) or row_shape[axis] is not None:
        return None
    sized = list(row_shape)
    sized[axis] = frame + (FRAMES - 1) * step
    return tuple(sized)


FAMILY = Family(name="audio", classes=("STFTSpectrogram", "MelSpectrogram"), shape_hint=shape_hint)
