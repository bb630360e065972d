# Source: github.com/aishwarya-netha/Autism-Detection EfficientNet-B0/3.preprocessing.py
#   (same bug reported to TensorFlow as tensorflow/tensorflow#42506, "tf.keras.applications.EfficientNetB-
#   not running as expected": EfficientNet includes its own Rescaling, so x/255 input is wrong)
# Original: ImageDataGenerator(rescale=1./255., rotation_range=40, width_shift_range=0.2,
#   height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True)
#   .flow_from_directory(train_dir, batch_size=20, class_mode='binary', target_size=(224, 224)) for an
#   EfficientNetB0 (imagenet) classifier.
# Bug: EfficientNet expects raw [0, 255] pixels (its preprocess_input is a pass-through); x/255 squeezes
#   the input into [0, 1], which the built-in Rescaling(1/255) makes [0, 0.004].
# Shrunk: the autism face images -> the two-class sample photos, target_size 32, batch 6.
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import photo_dir

BACKBONE = "efficientnetb0"
SOURCE = "train_generator"
HEALTHY = False
MUST_RAISE = {"input_range.rescaled_0_1"}
MUST_NOT_RAISE = {"generator.exhausted"}


def train_generator():
    train_datagen = ImageDataGenerator(rescale = 1./255., rotation_range = 40, width_shift_range = 0.2,
                    height_shift_range = 0.2, shear_range = 0.2, zoom_range = 0.2, horizontal_flip = True)
    train_generator = train_datagen.flow_from_directory(photo_dir("two"), batch_size = 6,
                            class_mode = 'binary', target_size = (32, 32))
    return train_generator
