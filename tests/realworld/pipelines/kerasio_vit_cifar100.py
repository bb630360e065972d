# Source: https://keras.io/examples/vision/image_classification_with_vision_transformer/ (keras-team/keras-io
#   examples/vision/image_classification_with_vision_transformer.py, "Image classification with Vision Transformer")
# Original: cifar100.load_data() raw uint8 (N, 32, 32, 3), labels (N, 1) ids; data_augmentation = Sequential(
#   Normalization(), Resizing(72), RandomFlip("horizontal"), RandomRotation(0.02), RandomZoom(0.2, 0.2)) with
#   layers[0].adapt(x_train), applied first inside the ViT (Patches(6) -> PatchEncoder -> 8 transformer blocks
#   -> MLP head -> Dense(100) logits); SparseCategoricalCrossentropy(from_logits=True);
#   model.fit(x=x_train, y=y_train, batch_size=256, epochs=10, validation_split=0.1).
# Bug: none (healthy): the raw 0..255 pixels are standardised inside the model by the adapted Normalization.
# Shrunk: CIFAR-100 -> the six classes of sample photos at 32 px (fixed shuffled order), 6 classes,
#   image_size 72 -> 36, transformer_layers 8 -> 1, projection_dim 64 -> 16, MLP head [2048, 1024] -> [32],
#   batch 256 -> 16; model.fit's slicing of the arrays written as the tf.data batches Keras makes of them.
import numpy as np
import tensorflow as tf
import keras
from keras import layers
from keras import ops

from ._data import load_data

BACKBONE = None
SOURCE = "train_batches"
MODEL = "create_vit_classifier"
HEALTHY = True
MUST_RAISE: set = set()
MUST_NOT_RAISE = {"input_range.raw_unpreprocessed", "generator.exhausted"}

num_classes = 6
input_shape = (32, 32, 3)
batch_size = 16
image_size = 36
patch_size = 6
num_patches = (image_size // patch_size) ** 2
projection_dim = 16
num_heads = 2
hidden_dim = projection_dim * num_heads
transformer_units = [hidden_dim * 2, hidden_dim]
transformer_layers = 1
mlp_head_units = [32]


def _cifar_like():
    x, y = load_data("six", size=32)
    order = np.random.default_rng(9).permutation(len(x))
    return x[order], y[order]


def train_batches():
    x_train, y_train = _cifar_like()
    n_train = int(len(x_train) * 0.9)  # validation_split=0.1 holds out the last 10%
    return tf.data.Dataset.from_tensor_slices((x_train[:n_train], y_train[:n_train])).shuffle(n_train).batch(batch_size)


def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


class Patches(layers.Layer):
    def __init__(self, patch_size):
        super().__init__()
        self.patch_size = patch_size

    def call(self, images):
        input_shape = ops.shape(images)
        batch_size = input_shape[0]
        height = input_shape[1]
        width = input_shape[2]
        channels = input_shape[3]
        num_patches_h = height // self.patch_size
        num_patches_w = width // self.patch_size
        patches = keras.ops.image.extract_patches(images, size=self.patch_size)
        patches = ops.reshape(patches, (batch_size, num_patches_h * num_patches_w, self.patch_size * self.patch_size * channels))
        return patches


class PatchEncoder(layers.Layer):
    def __init__(self, num_patches, projection_dim):
        super().__init__()
        self.num_patches = num_patches
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patch):
        positions = ops.expand_dims(ops.arange(start=0, stop=self.num_patches, step=1), axis=0)
        projected_patches = self.projection(patch)
        return projected_patches + self.position_embedding(positions)


def create_vit_classifier():
    x_train, _ = _cifar_like()
    data_augmentation = keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(image_size, image_size),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(factor=0.02),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )
    # Compute the mean and the variance of the training data for normalization.
    data_augmentation.layers[0].adapt(x_train)

    inputs = keras.Input(shape=input_shape)
    augmented = data_augmentation(inputs)
    patches = Patches(patch_size)(augmented)
    encoded_patches = PatchEncoder(num_patches, hidden_dim)(patches)
    for _ in range(transformer_layers):
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=projection_dim, dropout=0.1)(x1, x1)
        x2 = layers.Add()([attention_output, encoded_patches])
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        x3 = mlp(x3, hidden_units=transformer_units, dropout_rate=0.1)
        encoded_patches = layers.Add()([x3, x2])
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)
    representation = layers.Dropout(0.5)(representation)
    features = mlp(representation, hidden_units=mlp_head_units, dropout_rate=0.5)
    logits = layers.Dense(num_classes)(features)
    model = keras.Model(inputs=inputs, outputs=logits)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model
