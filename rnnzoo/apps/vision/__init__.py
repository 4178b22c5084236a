"""Sequences of images: 8x8 digits read pixel by pixel (any mixer), LRCN over moving-digit clips, pLSTM over
the image grid, and ConvLSTM / ConvS5 frame prediction on moving digits.

```python
from rnnzoo.apps.vision import DigitsConfig, MovingConfig, train_digits, train_moving
train_digits(DigitsConfig())["test"]["acc"]
train_moving(MovingConfig())["test"]["mse"]     # per future step
```
"""

from rnnzoo.apps.vision.data import load_digits, moving_digits, pixel_sequence, split
from rnnzoo.apps.vision.models import DigitsModelConfig, build_classifier
from rnnzoo.apps.vision.train_digits import DigitsConfig, train_digits
from rnnzoo.apps.vision.train_moving import MovingConfig, train_moving
from rnnzoo.apps.vision.video import FramePredictor, VideoModelConfig

__all__ = ["load_digits", "moving_digits", "pixel_sequence", "split", "DigitsModelConfig", "build_classifier",
           "DigitsConfig", "train_digits", "MovingConfig", "train_moving", "FramePredictor", "VideoModelConfig"]
