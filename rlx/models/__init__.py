"""Model builders (`_target_` of conf/model/*.yaml) and the pieces they share.

Every builder is called by the trainer as `build(device=...)` (policy) and
`build(device=..., trainable=False)` (frozen reference) and returns a `LoadedModel`.
"""

from rlx.models.base import LoadedModel
from rlx.models.lora import LoraSettings
from rlx.models.value_head import ValueHead

__all__ = ["LoadedModel", "LoraSettings", "ValueHead"]
