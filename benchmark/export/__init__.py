"""Sharing a run's models: export the UNet weights with a model card, and predict with them.

This stage reads run folders (after `benchmark.run`): `export_model` writes a folder of safetensors
and a card, `load_unet` reads it back, `predict_images` segments new angiograms with it;
`benchmark.export.nnunet` writes a run's images and fine-tuning splits in nnU-Net's raw format.
"""

from benchmark.export.predict import PredictOptions, predict_images
from benchmark.export.weights import ExportChoice, export_model, load_unet

__all__ = ["ExportChoice", "PredictOptions", "export_model", "load_unet", "predict_images"]
