# Source: a pattern in public GitHub training scripts, found with the corpus's exact-string code search
#   for "preprocessing_function=preprocess_input, rescale" (10+ files; e.g. an AFAD gender/age script:
#   imggen = ImageDataGenerator(preprocessing_function=preprocess_input, rescale=1/255.0,
#   validation_split=0.2); imggen.flow_from_directory(..., class_mode='binary', subset='training'));
#   the index does not name the repositories. The question it answers wrongly is the Stack Overflow one
#   in so_rescale_resnet50.py: "rescale=1./255 vs preprocessing_function=preprocess_input".
# Original: VGG/ResNet-family backbone (caffe preprocessing) fine-tuned on flow_from_directory batches.
# Bug: ImageDataGenerator applies preprocessing_function first and rescale after it, so the batches are
#   preprocess_input(x) / 255: caffe-centred values squeezed into about [-0.5, 0.6].
# Shrunk: AFAD -> the two-class sample photos, target_size 32, batch 6; backbone resnet50.
from tensorflow.keras.applications.resnet50 import preprocess_input
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import photo_dir

BACKBONE = "resnet50"
SOURCE = "train_datagen"
HEALTHY = False
MUST_RAISE = {"input_range.preprocessed_then_rescaled"}
MUST_NOT_RAISE = {"generator.exhausted"}

target_size = (32, 32)


def train_datagen():
    imggen = ImageDataGenerator(preprocessing_function=preprocess_input, rescale=1/255.0, validation_split=0.2)
    batch_size = 6
    return imggen.flow_from_directory(photo_dir("two"), target_size=target_size,
                                      class_mode='binary', batch_size=batch_size, subset='training')
