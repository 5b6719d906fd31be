"""The base of every config model, the field types the models share, and how a file that cannot be
read is worded.

Field types that name a core value (an image pattern, a Secret, a policy name) parse into it with
the core's own check, so each rule is written once, in the core, and the error still names the
field (`policies[0].images[1]: image pattern …`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainValidator, ValidationInfo
from pydantic.alias_generators import to_camel

from app.core.admission.patterns import ImagePattern
from app.core.admission.policy import check_policy_name
from app.core.errors import ConfigError
from app.core.trust.roots import check_root_name
from app.core.trust.secretkeys import SecretRef

T = TypeVar("T")


class ConfigModel(BaseModel):
    """camelCase keys, unknown keys refused, frozen."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the config file's directory (passed in the validation context)."""
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    return value if value.is_absolute() or base is None else Path(base) / value


def core_rule(parse: Callable[[Any], T]) -> Callable[[Any], T]:
    """`parse` (a core constructor or check raising `ConfigError`) as a pydantic validator."""

    def validate(value: Any) -> T:
        if isinstance(value, bool) or not isinstance(value, str):
            raise ValueError("Input should be a valid string")
        try:
            return parse(value)
        except ConfigError as exc:
            raise ValueError(exc.reason) from None

    return validate


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
Pattern = Annotated[ImagePattern, PlainValidator(core_rule(ImagePattern))]
SecretName = Annotated[SecretRef, PlainValidator(core_rule(SecretRef.parse))]
PolicyName = Annotated[str, PlainValidator(core_rule(check_policy_name))]
RootName = Annotated[str, PlainValidator(core_rule(check_root_name))]


def os_reason(exc: BaseException) -> str:
    """Why a file could not be read, in a few words (`No such file or directory`), never its content."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
