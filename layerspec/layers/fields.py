"""Argument types shared by the layer specs, with Keras's own accepted values and sensible bounds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field

from layerspec.layers.objects import (
    INITIALIZERS,
    KERNEL_INITIALIZERS,
    KERNEL_REGULARIZERS,
    REGULARIZERS,
    VECTOR_INITIALIZERS,
    KerasObjectSpec,
    with_arguments,
)

# Dimensions are bounded by what a tensor dimension can hold; a 10**9-unit Dense layer is still accepted.
MAX_DIM = 2**31 - 1

PositiveInt = Annotated[int, Field(gt=0, le=MAX_DIM)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_DIM)]
Pair = Annotated[list[PositiveInt], Field(min_length=2, max_length=2)]
Single = Annotated[list[PositiveInt], Field(min_length=1, max_length=1)]
NonNegativePair = Annotated[list[NonNegativeInt], Field(min_length=2, max_length=2)]
IntOrPair = PositiveInt | Pair
IntOrSingle = PositiveInt | Single
Triple = Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]
NonNegativeSingle = Annotated[list[NonNegativeInt], Field(min_length=1, max_length=1)]
NonNegativeTriple = Annotated[list[NonNegativeInt], Field(min_length=3, max_length=3)]
IntOrTriple = PositiveInt | Triple
# ZeroPadding2D / Cropping2D: n, or [rows, cols] with each entry n or [before, after] (Keras reads each entry
# alone, so [1, [0, 2]] is as good as [[1, 1], [0, 2]]).
Padding2D = NonNegativeInt | Annotated[list[NonNegativeInt | NonNegativePair], Field(min_length=2, max_length=2)]
Padding1D = NonNegativeInt | NonNegativePair
# ZeroPadding3D / Cropping3D: n, or one entry per spatial axis, each n or [before, after] (Keras reads each entry
# on its own, so [1, [2, 0], 3] is valid too).
Padding3D = NonNegativeInt | Annotated[list[NonNegativeInt | NonNegativePair], Field(min_length=3, max_length=3)]

Rate = Annotated[float, Field(ge=0.0, lt=1.0, description="Fraction of units to drop, in [0, 1).")]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1)] | None
Finite = Annotated[float, Field(allow_inf_nan=False)]
Factor = Annotated[float, Field(ge=-1.0, le=1.0)]
FactorOrRange = Factor | Annotated[list[Factor], Field(min_length=2, max_length=2)]

ConvPadding = Literal["valid", "same"]
DataFormat = Literal["channels_last"] | None

Activation = (
    Literal[
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "sigmoid",
        "hard_sigmoid",
        "tanh",
        "softmax",
        "log_softmax",
        "softplus",
        "softsign",
        "swish",
        "silu",
        "hard_silu",
        "hard_swish",
        "mish",
        "exponential",
    ]
    | None
)

# Keras's `identity` initializer needs a 2D weight (a Dense kernel) and `orthogonal` one of at least 2D, so
# convolution kernels take every initializer but identity, and vectors (bias, beta, gamma, moving statistics)
# neither of them (found by tests/fuzz: Keras refuses the model while building it).
VectorInitializerName = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "variance_scaling",
    "zeros",
    "ones",
]
KernelInitializerName = Literal[VectorInitializerName, "orthogonal"]
InitializerName = Literal[KernelInitializerName, "identity"]

# Keras's own identifiers: `l1l2` (not `l1_l2`) is what keras.regularizers.get understands. Its orthogonal
# regularizer needs a 2D tensor and fails when a model with any other weight or output under it trains, so only a
# Dense kernel takes it (found by tests/fuzz).
RegularizerName = Literal["l1", "l2", "l1l2"]
KernelRegularizer2DName = Literal["l1", "l2", "l1l2", "orthogonal_regularizer"]
# Each initializer and regularizer is also a mapping with its arguments ({type: variance_scaling, scale: 2.0};
# layerspec/layers/objects.py); PReLU's default is Keras's own spelling, "Zeros".
if TYPE_CHECKING:
    VectorInitializer = str | KerasObjectSpec
    AlphaInitializer = VectorInitializer
    EmbeddingInitializer = VectorInitializer
    KernelInitializer = VectorInitializer
    Initializer = VectorInitializer
    Regularizer = str | KerasObjectSpec | None
    KernelRegularizer2D = Regularizer
else:
    VectorInitializer = with_arguments(VectorInitializerName, VECTOR_INITIALIZERS)
    AlphaInitializer = with_arguments(Literal[VectorInitializerName, "Zeros"], VECTOR_INITIALIZERS)
    KernelInitializer = with_arguments(KernelInitializerName, KERNEL_INITIALIZERS)
    # An embedding table is a 2-D weight: Keras's `uniform` alias and orthogonal apply to it.
    EmbeddingInitializer = with_arguments(Literal[VectorInitializerName, "uniform", "orthogonal"], KERNEL_INITIALIZERS)
    Initializer = with_arguments(InitializerName, INITIALIZERS)
    Regularizer = with_arguments(RegularizerName, REGULARIZERS, optional=True)
    KernelRegularizer2D = with_arguments(KernelRegularizer2DName, KERNEL_REGULARIZERS, optional=True)
Constraint = Literal["max_norm", "min_max_norm", "non_neg", "unit_norm"] | None
FillMode = Literal["reflect", "wrap", "constant", "nearest"]
# RandomRotation, RandomZoom and RandomTranslation take only these two (Keras raises on the others).
Interpolation = Literal["nearest", "bilinear"]
