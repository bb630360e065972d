# Source: github.com/zarkaltair/Data-Scientist Deep_learning/data_augmentation_test.py (Kaggle Learn
#   "Deep Learning" course, data augmentation exercise: ResNet50 fine-tuned on dogs-gone-sideways)
# Original: ImageDataGenerator(preprocessing_function=preprocess_input, horizontal_flip=True,
#   width_shift_range=0.1, height_shift_range=0.1).flow_from_directory(train, target_size=(224, 224),
#   batch_size=12, class_mode='categorical') -> Sequential([ResNet50(include_top=False, pooling='avg'),
#   Dense(num_classes, softmax)]); resnet50.preprocess_input is the one ResNet50 expects.
# Bug: none (healthy).
# Shrunk: dogs-gone-sideways -> the two-class sample photos, target_size 32, batch 6 (5+ batches).
from tensorflow.keras.applications.resnet50 import preprocess_input
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import photo_dir

BACKBONE = "resnet50"
SOURCE = "train_generator"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "input_range.channel_order_swapped", "generator.exhausted"}

image_size = 32


def train_generator():
    data_generator_with_aug = ImageDataGenerator(preprocessing_function=preprocess_input,
                                                 horizontal_flip=True,
                                                 width_shift_range=0.1,
                                                 height_shift_range=0.1)
    train_generator = data_generator_with_aug.flow_from_directory(
        directory=photo_dir("two"),
        target_size=(image_size, image_size),
        batch_size=6,
        class_mode='categorical')
    return train_generator
