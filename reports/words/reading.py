"""'How to read the numbers': seeds, controls and power in plain words, said once for the page
(the tables' shared notes follow them there instead of repeating under every table)."""

from __future__ import annotations

from reports.stats.hierarchical import SignificanceSettings


def plain_words(settings: SignificanceSettings = SignificanceSettings()) -> tuple[str, ...]:
    """Three short paragraphs a reader new to the statistics needs before the tables."""
    return (
        "Seeds. A seed is one complete training of a method, with its own random start and data order. Two "
        "trainings of the same method can differ by more than two methods do, so it is the number of seeds, not "
        f"the number of test images, that decides how sure a comparison is. Below {settings.min_seeds} seeds the "
        "report gives no verdict.",
        "Controls. Controls are methods whose answer is known in advance. The positive control (supervised "
        "pre-training with the labels) must beat the baseline at the smallest fine-tuning share: if it does not, "
        "the run is too small or too noisy to see a real gain. The negative control is the baseline trained again "
        "with new seeds: its true difference is zero, so how often it is called different is how often the tests "
        "raise a false alarm.",
        f"Power. The minimum detectable difference (MDD) is the smallest true difference this run would notice "
        f"{settings.power:.0%} of the time. A gap smaller than the MDD is shown as a tie (=): not \"no "
        "difference\", but \"this run cannot tell\". More seeds shrink the MDD, roughly with the square root of "
        "their number.",
    )
