"""Training and fitting the image tower (needs the train extra: torch, for the
networks; the fitting of the spaces runs on numpy and onnxruntime).

- `data`: a catalogue's (photo, caption) pairs, the validation split (`is_validation`),
  the products a model was trained on, cached caption vectors;
- `features`: the trunk's features of every training photo (and its augmented views), cached;
- `heads`: the served heads' labels, their torch model and validation metrics;
- `finetune`: fine-tuning the whole trunk on the catalogue;
- `train`: the whole run (`shopsearch train`): fine-tuning, the heads, the tower's PCA,
  the caption memory and the visual space, then promotion;
- `visual`, `memory`: fitting the visual space (its neighbours, tuned keys and words) and the
  caption memory, and adding either to a trained model
  (`python -m shopsearch.training.visual`, `python -m shopsearch.training.memory`);
- `export`: the one-time ONNX export of the pretrained networks, the int8 trunk;
- `model_folder`: promoting a trained model, rewriting a part of one.

What serving reads is in `shopsearch.encoders`; nothing there imports this package,
except the one-time ONNX export when `shopsearch setup` has not run. This module
imports nothing, so that export stays light to reach.
"""
