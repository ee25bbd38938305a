"""What every method builds on: the study's UNet (its layers, network and weights file), the fine-tuning loss, the training recipes methods name, and the roles a method can have."""
