# Source: https://github.com/keras-team/keras-io/blob/master/examples/vision/eanet.py
#   ("Image classification with EANet (External Attention Transformer)", https://keras.io/examples/vision/eanet/).
# Original: CIFAR-100 (32 px, 100 classes, one-hot labels): data_augmentation = Sequential([Normalization
#   (adapted on x_train), RandomFlip("horizontal"), RandomRotation(0.1), RandomContrast(0.1),
#   RandomZoom(0.2, 0.2)]) inside the model; 2x2 patches -> PatchEmbedding (Dense(64) + learned
#   position Embedding); 8 transformer blocks (LayerNormalization(1e-5) -> external attention: Dense(dim*4),
#   heads 4*4, Dense(dim//4) memory M_k, Softmax over patches, double normalization, Dropout(0.2),
#   Dense memory M_v, Dense(dim), Dropout(0.2); residual; LayerNormalization -> MLP Dense(64, gelu),
#   Dropout(0.2), Dense(64), Dropout(0.2); residual), GlobalAvgPool1D, Dense(num_classes, softmax);
#   loss CategoricalCrossentropy(label_smoothing=0.1), AdamW(learning_rate=0.001, weight_decay=0.0001).
# Bug: none (healthy, the official way).
# Made small: 8 transformer blocks -> 2, 4x4 patches (64 patches instead of 256), embedding/mlp dims
#   64 -> 32, the six-class sample build at 32 px (CIFAR's size). The Normalization layer is adapted
#   on the training set in the original; a factory cannot see the data, so it becomes Rescaling(1/127.5,
#   offset=-1). tfa.optimizers.AdamW becomes keras.optimizers.AdamW, tf ops become keras.ops (as in the
#   Keras 3 port of the example).
import keras
from keras import layers, ops

SOURCE = "keras-team/keras-io examples/vision/eanet.py (EANet, label smoothing 0.1, AdamW)"
FACTORY = "get_model"
DATA = "six_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE: set[str] = {"training.cannot_overfit", "training.logits_as_probabilities",
                            "training.probabilities_as_logits", "training.num_outputs_mismatch"}

weight_decay = 0.0001
learning_rate = 0.001
label_smoothing = 0.1
patch_size = 4  # 2 in the original
embedding_dim = 32  # 64 in the original
mlp_dim = 32  # 64 in the original
dim_coefficient = 4
num_heads = 4
attention_dropout = 0.2
projection_dropout = 0.2
num_transformer_blocks = 2  # 8 in the original


class PatchExtract(layers.Layer):
    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        B, C = ops.shape(x)[0], ops.shape(x)[-1]
        x = ops.image.extract_patches(x, self.patch_size)
        x = ops.reshape(x, (B, -1, self.patch_size * self.patch_size * C))
        return x


class PatchEmbedding(layers.Layer):
    def __init__(self, num_patch, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.num_patch = num_patch
        self.proj = layers.Dense(embed_dim)
        self.pos_embed = layers.Embedding(input_dim=num_patch, output_dim=embed_dim)

    def call(self, patch):
        pos = ops.arange(start=0, stop=self.num_patch, step=1)
        return self.proj(patch) + self.pos_embed(pos)


def external_attention(x, dim, num_heads, dim_coefficient=4, attention_dropout=0, projection_dropout=0):
    _, num_patch, channel = x.shape
    assert dim % num_heads == 0
    num_heads = num_heads * dim_coefficient

    x = layers.Dense(dim * dim_coefficient)(x)
    # create tensor [batch_size, num_patches, num_heads, dim*dim_coefficient//num_heads]
    x = ops.reshape(x, (-1, num_patch, num_heads, dim * dim_coefficient // num_heads))
    x = ops.transpose(x, axes=[0, 2, 1, 3])
    # a linear layer M_k
    attn = layers.Dense(dim // dim_coefficient)(x)
    # normalize attention map
    attn = layers.Softmax(axis=2)(attn)
    # double-normalization
    attn = attn / (1e-9 + ops.sum(attn, axis=-1, keepdims=True))
    attn = layers.Dropout(attention_dropout)(attn)
    # a linear layer M_v
    x = layers.Dense(dim * dim_coefficient // num_heads)(attn)
    x = ops.transpose(x, axes=[0, 2, 1, 3])
    x = ops.reshape(x, [-1, num_patch, dim * dim_coefficient])
    # a linear layer to project original dim
    x = layers.Dense(dim)(x)
    x = layers.Dropout(projection_dropout)(x)
    return x


def mlp(x, embedding_dim, mlp_dim, drop_rate=0.2):
    x = layers.Dense(mlp_dim, activation=ops.gelu)(x)
    x = layers.Dropout(drop_rate)(x)
    x = layers.Dense(embedding_dim)(x)
    x = layers.Dropout(drop_rate)(x)
    return x


def transformer_encoder(x, embedding_dim, mlp_dim, num_heads, dim_coefficient, attention_dropout,
                        projection_dropout):
    residual_1 = x
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    x = external_attention(x, embedding_dim, num_heads, dim_coefficient, attention_dropout, projection_dropout)
    x = layers.add([x, residual_1])
    residual_2 = x
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    x = mlp(x, embedding_dim, mlp_dim)
    x = layers.add([x, residual_2])
    return x


def get_model(num_classes, input_shape):
    num_patches = (input_shape[0] // patch_size) ** 2
    data_augmentation = keras.Sequential([
        layers.Rescaling(1.0 / 127.5, offset=-1.0),  # stands in for the adapted Normalization()
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(factor=0.1),
        layers.RandomContrast(factor=0.1),
        layers.RandomZoom(height_factor=0.2, width_factor=0.2),
    ], name="data_augmentation")
    inputs = layers.Input(shape=input_shape)
    # Image augment
    x = data_augmentation(inputs)
    # Extract patches.
    x = PatchExtract(patch_size)(x)
    # Create patch embedding.
    x = PatchEmbedding(num_patches, embedding_dim)(x)
    # Create Transformer block.
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(x, embedding_dim, mlp_dim, num_heads, dim_coefficient, attention_dropout,
                                projection_dropout)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.TopKCategoricalAccuracy(5, name="top-5-accuracy"),
        ],
    )
    return model
