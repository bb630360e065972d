# Source: https://github.com/tensorflow/tensorflow/issues/12789 ("Zero accuracy if shuffle is False in TF
#   Keras ImageDataGenerator")
# Original: ResNet50 fine-tuning; train_datagen = ImageDataGenerator(rescale=1./255, shear_range=0.2,
#   zoom_range=0.2, horizontal_flip=True); train_generator = train_datagen.flow_from_directory(train_dir,
#   target_size=(224, 224), batch_size=..., class_mode='categorical', shuffle=False); fit_generator.
# Bugs: (1) shuffle=False on the training iterator: batches come class after class (folder order), so the
#   net sees one class at a time; (2) x/255 for ResNet50, which expects resnet50.preprocess_input.
# Shrunk: the six classes of sample photos (12 each), target_size 32, batch 4 (18 batches a pass).
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from ._data import photo_dir

BACKBONE = "resnet50"
SOURCE = "train_generator"
HEALTHY = False
MUST_RAISE = {"generator.class_sorted_batches", "input_range.rescaled_0_1"}
MUST_NOT_RAISE = {"generator.exhausted"}


def train_generator():
    train_datagen = ImageDataGenerator(
        rescale = 1./ 255,
        shear_range = 0.2,
        zoom_range = 0.2,
        horizontal_flip = True)
    train_generator = train_datagen.flow_from_directory(
        photo_dir("six"),
        target_size = (32, 32),
        batch_size = 4,
        class_mode = 'categorical',
        shuffle = False)
    return train_generator
