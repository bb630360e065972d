# Source: https://github.com/keras-team/keras-io/blob/master/examples/vision/mlp_image_classification.py
#   ("Image classification with modern MLP models", https://keras.io/examples/vision/mlp_image_classification/),
#   the MLP-Mixer part: build_classifier(mlpmixer_blocks) + run_experiment.
# Original: CIFAR-100 (32 px, 100 classes): data_augmentation = Sequential([Normalization (adapted on
#   x_train), Resizing(64, 64), RandomFlip("horizontal"), RandomZoom(0.2, 0.2)]) inside the model, 8x8
#   patches -> Dense(embedding_dim=256), 4 MLPMixerLayer blocks (LayerNormalization(1e-6), token-mixing
#   MLP Dense(num_patches)-GELU-Dense(num_patches)-Dropout(0.2) on the transposed patches, channel-mixing
#   MLP Dense(num_patches)-GELU-Dense(embedding_dim)-Dropout(0.2), two skip connections),
#   GlobalAveragePooling1D, Dropout(0.2), Dense(num_classes) logits; AdamW(learning_rate=0.005,
#   weight_decay=0.0001), SparseCategoricalCrossentropy(from_logits=True).
# Bug: none (healthy, the official way).
# Made small: embedding_dim 256 -> 32, 4 mixer blocks -> 2, the six-class sample build at 32 px (the
#   original's input size; Resizing(64) and the 8x8 patches kept). The Normalization layer is adapted on
#   the training set in the original; a factory cannot see the data, so it becomes Rescaling(1/127.5,
#   offset=-1) (zero-centred, unit-range), the closest fixed stand-in. tfa.optimizers.AdamW and
#   tfa.layers.GELU become their Keras 3 equivalents (as in the Keras 3 port of the example), and
#   tf.image.extract_patches becomes keras.ops.image.extract_patches.
import keras
from keras import layers, ops

SOURCE = "keras-team/keras-io examples/vision/mlp_image_classification.py (MLP-Mixer)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE: set[str] = {"training.cannot_overfit", "training.logits_as_probabilities",
                            "training.probabilities_as_logits", "training.num_outputs_mismatch"}

weight_decay = 0.0001
dropout_rate = 0.2
image_size = 64  # We'll resize input images to this size.
patch_size = 8  # Size of the patches to be extracted from the input images.
num_patches = (image_size // patch_size) ** 2  # Size of the data array.
embedding_dim = 32  # Number of hidden units (256 in the original).
num_blocks = 2  # Number of blocks (4 in the original).
learning_rate = 0.005


class Patches(layers.Layer):
    def __init__(self, patch_size, num_patches, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.num_patches = num_patches

    def call(self, images):
        batch_size = ops.shape(images)[0]
        patches = ops.image.extract_patches(images, self.patch_size)
        patch_dims = patches.shape[-1]
        return ops.reshape(patches, (batch_size, self.num_patches, patch_dims))


class MLPMixerLayer(layers.Layer):
    def __init__(self, num_patches, hidden_units, dropout_rate, **kwargs):
        super().__init__(**kwargs)
        self.mlp1 = keras.Sequential([
            layers.Dense(units=num_patches),
            layers.Activation("gelu"),
            layers.Dense(units=num_patches),
            layers.Dropout(rate=dropout_rate),
        ])
        self.mlp2 = keras.Sequential([
            layers.Dense(units=num_patches),
            layers.Activation("gelu"),
            layers.Dense(units=hidden_units),
            layers.Dropout(rate=dropout_rate),
        ])
        self.normalize = layers.LayerNormalization(epsilon=1e-6)

    def build(self, input_shape):
        self.normalize.build(input_shape)
        self.mlp1.build((input_shape[0], input_shape[2], input_shape[1]))
        self.mlp2.build(input_shape)
        self.built = True

    def call(self, inputs):
        # Apply layer normalization.
        x = self.normalize(inputs)
        # Transpose inputs from [num_batches, num_patches, hidden_units] to [num_batches, hidden_units, num_patches].
        x_channels = ops.transpose(x, axes=(0, 2, 1))
        # Apply mlp1 on each channel independently.
        mlp1_outputs = self.mlp1(x_channels)
        # Transpose mlp1_outputs back to [num_batches, num_patches, hidden_units].
        mlp1_outputs = ops.transpose(mlp1_outputs, axes=(0, 2, 1))
        # Add skip connection.
        x = mlp1_outputs + inputs
        # Apply layer normalization.
        x_patches = self.normalize(x)
        # Apply mlp2 on each patch independently.
        mlp2_outputs = self.mlp2(x_patches)
        # Add skip connection.
        return x + mlp2_outputs


def build_classifier(blocks, input_shape, num_classes):
    data_augmentation = keras.Sequential([
        layers.Rescaling(1.0 / 127.5, offset=-1.0),  # stands in for the adapted Normalization()
        layers.Resizing(image_size, image_size),
        layers.RandomFlip("horizontal"),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ], name="data_augmentation")
    inputs = layers.Input(shape=input_shape)
    # Augment data.
    augmented = data_augmentation(inputs)
    # Create patches.
    patches = Patches(patch_size, num_patches)(augmented)
    # Encode patches to generate a [batch_size, num_patches, embedding_dim] tensor.
    x = layers.Dense(units=embedding_dim)(patches)
    # Process x using the module blocks.
    x = blocks(x)
    # Apply global average pooling to generate a [batch_size, embedding_dim] representation tensor.
    representation = layers.GlobalAveragePooling1D()(x)
    # Apply dropout.
    representation = layers.Dropout(rate=dropout_rate)(representation)
    # Compute logits outputs.
    logits = layers.Dense(num_classes)(representation)
    return keras.Model(inputs=inputs, outputs=logits)


def build(num_classes, input_shape):
    mlpmixer_blocks = keras.Sequential(
        [MLPMixerLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)]
    )
    model = build_classifier(mlpmixer_blocks, input_shape, num_classes)
    # Create Adam optimizer with weight decay.
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
    )
    return model
