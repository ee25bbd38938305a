"""What a method is to the study, declared by the method (methods.base.Method.role) and stored with
its look in the run folder, so reports know the baseline and the controls without naming them.
Import-light: the run folder's readers use it."""

from __future__ import annotations

from typing import Literal

#: `baseline`: what every other method is tested against (no pre-training); `contender`: a method
#: under test; the controls have a known answer and are reported apart, never ranked: the
#: `positive-control` must beat the baseline where labels are scarce, the `negative-control` (the
#: baseline under another seed stream) has a true difference of zero.
Role = Literal["baseline", "contender", "positive-control", "negative-control"]
ROLES: tuple[Role, ...] = ("baseline", "contender", "positive-control", "negative-control")
CONTROL_ROLES: tuple[Role, ...] = ("positive-control", "negative-control")
