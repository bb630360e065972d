# Source: Stack Overflow, "Keras: rescale=1./255 vs preprocessing_function=preprocess_input - which one to
#   use?" (mirror: https://9to5answer.com/keras-rescale-1-255-vs-preprocessing_function-preprocess_input-which-one-to-use)
# Original: the asker's and the answer's experiment: ImageDataGenerator(rescale=1./255).flow_from_directory
#   (dogs-vs-cats) fed to ResNet50(include_top=False) + GAP + Dense(1, sigmoid); "with rescale it does not
#   manage to fit anything ... always predict the first class", with preprocess_input 98%.
# Bug: x/255 input for ResNet50, which expects resnet50.preprocess_input (caffe: BGR minus ImageNet means).
# Shrunk: dogs-vs-cats -> the two-class sample photos, target_size 32, batch 6.
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import photo_dir

BACKBONE = "resnet50"
SOURCE = "train_generator"
HEALTHY = False
MUST_RAISE = {"input_range.rescaled_0_1"}
MUST_NOT_RAISE = {"generator.exhausted", "generator.class_sorted_batches"}


def train_generator():
    train_datagen = ImageDataGenerator(rescale=1./255)
    train_generator = train_datagen.flow_from_directory(
        photo_dir("two"),
        target_size=(32, 32),
        batch_size=6,
        class_mode='binary')
    return train_generator
