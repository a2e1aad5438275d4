"""What every run-file model shares: the strict base models, the format version and the bounded field types."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_CLASSES = 10_000
MAX_EPOCHS = 1_000_000

Text = Annotated[str, Field(max_length=4096)]


# A path as a writer records it: no NUL, no part longer than a Linux file name (NAME_MAX, 255 bytes), so that
# looking it up can only find it or not, never fail.
def _file_name_parts(value: str) -> str:
    if "\x00" in value or any(len(part.encode("utf-8")) > 255 for part in value.split("/")):
        raise ValueError("not a path: a path has no NUL character and no part longer than 255 bytes")
    return value


PathText = Annotated[str, Field(max_length=4096), AfterValidator(_file_name_parts)]
Name = Annotated[str, Field(max_length=1000)]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


# The run-folder format this layerspec writes. A reader reads every version up to this one (fields added since
# a file was written take their defaults; a file without the key predates versioning and counts as 0) and
# refuses a newer one as bad data (exit 3), since it may hold what this version cannot know the meaning of.
FORMAT_VERSION = 1
Sha256 = Annotated[str, Field(max_length=64)]


class RunFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False, populate_by_name=True)


class Record(RunFile):
    """A whole file of a run folder: it says which version of the format it was written in."""

    format_version: Annotated[int, Field(ge=0)] = Field(
        default=FORMAT_VERSION,
        description="Version of the run-folder format the file was written in; missing means 0 (written before "
        "versioning). A newer version than the reader's is refused.",
    )
