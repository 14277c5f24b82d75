"""The backbone and DeepLabV3+ (``decoder=False`` gives DeepLabV3)."""

from .backbone import Backbone
from .deeplab import DeepLabV3Plus, deeplab_config, scale_rates

__all__ = ["Backbone", "DeepLabV3Plus", "deeplab_config", "scale_rates"]
