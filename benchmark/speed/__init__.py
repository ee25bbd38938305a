"""Speed: the harness's training steps timed against a plain loop, the speed report, and cost
planning for a grid (`angiobench speed`, `angiobench plan`)."""
