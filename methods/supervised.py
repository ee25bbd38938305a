"""Supervised baseline: no pre-training; fine-tuning starts from random weights."""

from __future__ import annotations

from methods.base import Method


class Supervised(Method):
    name = "supervised"
    role = "baseline"
    study_order = 0
    description = "No pre-training: the UNet is fine-tuned from random initialisation."
    label = "UNet (no PT)"
    colour = "#3b3b3b"
    transfers = "none"
    pretrains = False
