"""Negative control: the supervised baseline again, under an independent seed stream.

Its true effect is zero: it differs from `supervised` only in the random numbers of fine-tuning
(initialisation, batch order, augmentation). How often the paired tests call it different from the
baseline across cells is the run's false-positive rate — about 5 % is what a sound test gives — and
the size of its differences is what seed noise alone produces. Reported apart from the contenders.
"""

from __future__ import annotations

from methods.base import Method


class NullControl(Method):
    name = "control-null"
    role = "negative-control"
    description = "Negative control: the supervised baseline under an independent seed stream (true effect 0)."
    label = "Negative control (baseline, new seeds)"
    colour = "#e377c2"
    transfers = "none"
    pretrains = False
    independent_seed = True
