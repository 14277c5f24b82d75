"""Layers built on :mod:`minideeplab.functional`, with PyTorch's names."""

from . import init
from .blocks import ASPP, ASPPPooling, ConvBNReLU, Decoder, SeparableConv2d
from .conv import Conv2d
from .layers import BatchNorm2d, Dropout, GlobalAvgPool2d, ReLU, Upsample
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["init", "Parameter", "Module", "ModuleList", "Sequential", "Conv2d",
           "BatchNorm2d", "ReLU", "Dropout", "GlobalAvgPool2d", "Upsample",
           "ConvBNReLU", "SeparableConv2d", "ASPPPooling", "ASPP", "Decoder"]
