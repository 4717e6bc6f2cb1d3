"""Teachable Machine's Keras snippet, as it gives it, for this model: python predict_keras.py PHOTO

The model and labels are read from this script's folder, so it runs from any folder.
"""

import sys
from pathlib import Path

USAGE = """usage: python predict_keras.py PHOTO

Classifies PHOTO with the Keras model beside this script (keras_model.h5, labels.txt).
Needs: pip install tensorflow pillow   (or Keras 3 with another backend)"""
if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):  # before TensorFlow takes seconds to load
    print(USAGE, file=sys.stdout if len(sys.argv) == 2 else sys.stderr)
    sys.exit(0 if len(sys.argv) == 2 else 2)
HERE = Path(__file__).resolve().parent

import numpy as np  # noqa: E402
from keras.models import load_model  # noqa: E402  (TensorFlow 2.x's tf.keras or Keras 3)
from PIL import Image, ImageOps  # noqa: E402

# Disable scientific notation for clarity
np.set_printoptions(suppress=True)

# Load the model
model = load_model(str(HERE / "keras_model.h5"), compile=False)

# Load the labels
class_names = open(HERE / "labels.txt", "r").readlines()

# Create the array of the right shape to feed into the keras model
data = np.ndarray(shape=(1, 224, 224, 3), dtype=np.float32)

# Replace this with the path to your image
image = Image.open(sys.argv[1]).convert("RGB")

# resizing the image to be at least 224x224 and then cropping from the center
size = (224, 224)
image = ImageOps.fit(image, size, Image.Resampling.LANCZOS)

# turn the image into a numpy array
image_array = np.asarray(image)

# Normalize the image
normalized_image_array = (image_array.astype(np.float32) / 127.5) - 1

# Load the image into the array
data[0] = normalized_image_array

# Predicts the model
prediction = model.predict(data)
index = np.argmax(prediction)
class_name = class_names[index]
confidence_score = prediction[0][index]

# Print prediction and confidence score
print("Class:", class_name[2:], end="")
print("Confidence Score:", confidence_score)
