"""What every method builds on: the study's UNet (its network, sizes and weights file), the fine-tuning loss, and the training recipes methods name."""
