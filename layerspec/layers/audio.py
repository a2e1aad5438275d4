"""Audio preprocessing: MelSpectrogram (STFTSpectrogram is refused, see layerspec/layers/refused.py).

MACs: the projection of each frame's power spectrum onto the mel filters, a (fft_length // 2 + 1) x num_mel_bins
matrix product per frame; the FFT itself is not multiply-accumulate work in the sense counted here.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.augmentation import FAILS_WHEN_RUN
from layerspec.layers.base import (
    PREPROCESSING,
    SHAPE_WHEN_RUN,
    AxisWindow,
    LayerSpec,
    Shape,
    ShapeError,
    example,
    format_shape,
    register,
)
from layerspec.layers.fields import Finite, PositiveInt

Positive = Annotated[Finite, Field(gt=0)]
NonNegative = Annotated[Finite, Field(ge=0)]


@register(PREPROCESSING)
class MelSpectrogram(LayerSpec):
    """Turns raw audio (samples,) into a mel spectrogram (num_mel_bins, frames)."""

    # Keras converts an integer signal to float (found by running it).
    casts_input: ClassVar[bool] = True
    rank: ClassVar[int] = 0
    examples = (
        example((400,), fft_length=64, sequence_stride=16, num_mel_bins=8),
        example((16000,), num_mel_bins=40, power_to_db=False),
        example((None,), fft_length=128, sequence_stride=32, sequence_length=100, num_mel_bins=16, max_freq=4000.0),
    )
    type: Literal["MelSpectrogram"] = Field(description="The Keras layer class.")
    fft_length: PositiveInt = Field(default=2048, description="Size of each FFT, in samples.")
    sequence_stride: PositiveInt = Field(default=512, description="Samples between the starts of two frames.")
    sequence_length: PositiveInt | None = Field(
        default=None, description="Samples per frame (windowed); at most fft_length; null for fft_length."
    )
    window: Literal["hann", "hamming"] | None = Field(default="hann", description="Window applied to each frame.")
    sampling_rate: PositiveInt = Field(default=16000, description="Samples per second of the signal.")
    num_mel_bins: PositiveInt = Field(default=128, description="Number of mel bands.")
    min_freq: NonNegative = Field(default=20.0, description="Lowest frequency of the mel bands, in Hz.")
    max_freq: Positive | None = Field(
        default=None, description="Highest frequency of the mel bands, in Hz; null for sampling_rate / 2."
    )
    power_to_db: bool = Field(default=True, description="Convert the power to decibels.")
    top_db: Positive = Field(default=80.0, description="Dynamic range kept below the peak, in dB.")
    mag_exp: Positive = Field(default=2.0, description="Exponent of the magnitude (2: power, 1: magnitude).")
    min_power: Positive = Field(default=1e-10, description="Floor of the power before the decibel conversion.")
    ref_power: Positive = Field(default=1.0, description="Reference power of 0 dB.")

    def frames(self, shape: Shape) -> int | None:
        if len(shape) != 1:
            raise ShapeError(
                f"MelSpectrogram expects raw audio of rank 2 (batch, samples); received shape {format_shape(shape)}"
            )
        if self.sequence_length is not None and self.sequence_length > self.fft_length:
            raise ShapeError(
                f"`sequence_length` {self.sequence_length} is longer than `fft_length` {self.fft_length}: "
                "a frame must fit in the FFT",
                "sequence_length",
            )
        top = self.max_freq if self.max_freq is not None else self.sampling_rate / 2
        if self.min_freq >= top:
            raise ShapeError(f"`min_freq` {self.min_freq} must be below the highest frequency {top}", "min_freq")
        samples = shape[0]
        # Keras pads the signal by fft_length // 2 at both ends by mirroring it, which needs more samples than that.
        if samples is not None and self.fft_length // 2 >= samples:
            raise ShapeError(
                f"MelSpectrogram with `fft_length` {self.fft_length} needs more than {self.fft_length // 2} samples "
                f"(it mirrors half an FFT onto each end); received shape {format_shape(shape)}: lower `fft_length` "
                f"({FAILS_WHEN_RUN})",
                "fft_length",
            )
        return None if samples is None else self._frames_when_run(samples)

    def _frames_when_run(self, samples: int) -> int:
        """The frames of a signal of `samples`: fft_length-long frames every sequence_stride samples of the signal
        padded by fft_length // 2 at both ends (a shorter sequence_length is zero-padded to fft_length). Keras
        declares (samples + 1) // stride + 1 frames instead, which differs for an odd fft_length or when
        samples + 1 is a multiple of the stride (found by tests/fuzz); the layers after it would be built for the
        declared size, so a difference is refused."""
        stride = self.sequence_stride
        frames = 1 + (samples - self.fft_length % 2) // stride
        declared = 1 + (samples + 1) // stride
        if frames != declared:
            raise ShapeError(
                f"MelSpectrogram makes {frames} frames of {samples} samples, but declares {declared} "
                f"({SHAPE_WHEN_RUN}), so the layers after it would be built for the wrong size: use an even "
                "`fft_length`, and a number of samples that is not one less than a multiple of `sequence_stride`",
                "sequence_stride",
            )
        return frames

    def field_rule(self, inputs: list[Shape], output: Shape) -> tuple[AxisWindow, ...]:
        # Frame t reads `fft_length` samples from t * sequence_stride on.
        return (AxisWindow(self.fft_length, Fraction(self.sequence_stride)),)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return (self.num_mel_bins, self.frames(inputs[0]))

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        frames = output[1] if output[1] is not None else 1
        return frames * (self.fft_length // 2 + 1) * self.num_mel_bins
