"""Training: the one pre-training loop for every method, the fine-tuning loop with model selection
on validation data, device and precision options, the optimiser, and the method contract check."""
