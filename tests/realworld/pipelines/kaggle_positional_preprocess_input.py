# Source: github.com/zarkaltair/Data-Scientist Deep_learning/tensorflow_programming_test.py (Kaggle Learn
#   "Deep Learning" course, TensorFlow programming exercise: ResNet50 transfer learning)
# Original: data_generator = ImageDataGenerator(preprocess_input); train_generator =
#   data_generator.flow_from_directory(train, target_size=(224, 224), batch_size=10,
#   class_mode='categorical') -> Sequential([ResNet50(include_top=False, pooling='avg'), Dense(2, softmax)]).
# Bug: preprocess_input passed positionally lands in ImageDataGenerator's first parameter,
#   featurewise_center (truthy, never fit), not preprocessing_function: Keras only warns that the generator
#   "hasn't been fit on any training data" and ResNet50 gets raw [0, 255] pixels.
# Shrunk: dogs-gone-sideways -> the two-class sample photos, target_size 32, batch 6.
import warnings

from tensorflow.keras.applications.resnet50 import preprocess_input
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import photo_dir

BACKBONE = "resnet50"
SOURCE = "train_generator"
HEALTHY = False
MUST_RAISE = {"input_range.raw_unpreprocessed"}
MUST_NOT_RAISE = {"generator.exhausted"}

image_size = 32


def train_generator():
    warnings.filterwarnings("ignore", message=".*featurewise_center.*")  # the warning Keras prints per batch
    data_generator = ImageDataGenerator(preprocess_input)
    train_generator = data_generator.flow_from_directory(
                                            directory=photo_dir("two"),
                                            target_size=(image_size, image_size),
                                            batch_size=6,
                                            class_mode='categorical')
    return train_generator
